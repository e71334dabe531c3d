"""One movable deadline per connection, cheap to push forward.

Defined in ``tracker._fast`` (compiled ``deadline``, twin ``deadline_py``):
the connection pushes it after every request.
"""

from tracker._fast import Deadline

__all__ = ["Deadline"]
