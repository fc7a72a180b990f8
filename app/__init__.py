"""The composition root: the `orders` command, the supervisor of `orders up`, the admin CLI.

It builds and starts every other part; nothing imports it.
"""
