"""The request as the application sees it.

Defined in ``tracker._fast.httpmessage`` so that the compiled request reader
can build it without importing this package.
"""

from tracker._fast.httpmessage import Request, parse_cookies

__all__ = ["Request", "parse_cookies"]
