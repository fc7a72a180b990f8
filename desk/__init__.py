"""The channel-neutral desk: what residents, staff and organisations are answered in any channel.

Every channel (bot/, web/, terminal/) turns its own updates into calls on the front desk
(residents) and the work desk (staff and organisations) and draws their replies.
"""
