"""Campaign short links: `https://{host}/{slug}` answered with a 302 and a tracked event.

How a link travels (no store round trip per hit):

- `changes`: what a link and a change to it are, the rules for `urlfrom` and
  `urlto`, and which of two changes wins (the newer one).
- An admin request appends a change row (model table `redirect_history`)
  to the worker's log, like any event; the shipper delivers it to every store
  (whose `redirects` view derives the current links from the history) and to
  `LinksSink` (`sink`), which keeps the newest change per link in
  `DataDirectory/links.json` (`book`).
- Every worker watches that file and resolves hits from memory (`watcher`).
- The admin list and the existence checks read the file plus the log's
  undelivered tail in the shipper (`reads`), so a write is readable at once.
"""

from tracker.links.book import LinkBook, links_path
from tracker.links.changes import LinkError, change_row, check_urlto, link_key, parse_urlfrom

__all__ = ["LinkBook", "LinkError", "change_row", "check_urlto", "link_key", "links_path",
           "parse_urlfrom"]
