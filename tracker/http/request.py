"""The request as the application sees it.

Defined in ``tracker._fast`` (compiled ``request``, twin ``request_py``) so
that the compiled request reader can build it without importing this package.
"""

from tracker._fast import Request
from tracker._fast.httpmessage import parse_cookies

__all__ = ["Request", "parse_cookies"]
