"""The terminal chat channel (`orders chat`), a sibling of bot/ and web/."""
