"""User-Agent to device, OS, browser and bot flag, by a few ordered substring rules.

Rules are tried on the lower-cased string, most specific first (Edge and Opera
carry "Chrome/", Chrome carries "Safari/", Android carries "Linux"). Results are
remembered per distinct User-Agent, so the rules run once per browser build.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CACHE_ENTRIES = 4096

# Named crawlers and HTTP tools, then the generic words crawlers put in their names.
_BOT_TOKENS = (
    "googlebot", "bingbot", "duckduckbot", "baiduspider", "yandexbot", "ahrefsbot",
    "semrushbot", "facebookexternalhit", "twitterbot", "slackbot", "curl", "wget",
    "python-requests", "go-http-client", "headlesschrome", "bot", "spider", "crawl",
)
# Real devices whose names contain a bot word (CUBOT phones).
_NOT_BOT_NAMES = ("cubot",)

# (substrings, name) tried in order; the first rule with a matching substring wins.
_OS_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("windows phone",), "Windows"),
    (("iphone", "ipad", "ipod"), "iOS"),
    (("android",), "Android"),
    (("cros ",), "ChromeOS"),
    (("windows",), "Windows"),
    (("macintosh", "mac os x"), "macOS"),
    (("linux", "x11"), "Linux"),
)
_BROWSER_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("edg/", "edge/", "edga/", "edgios/"), "Edge"),
    (("opr/", "opera", "opt/", "opios/"), "Opera"),
    (("samsungbrowser",), "Samsung Internet"),
    (("firefox/", "fxios/"), "Firefox"),
    (("chrome/", "crios/", "chromium/"), "Chrome"),
    (("safari/",), "Safari"),
)
_TABLET_TOKENS = ("ipad", "tablet", "kindle", "silk/", "playbook")
_MOBILE_TOKENS = ("mobi", "iphone", "ipod", "windows phone")
_DESKTOP_TOKENS = ("windows", "macintosh", "x11", "linux", "cros ")


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    device: str  # desktop, mobile, tablet, bot or other
    os: str
    browser: str
    bot: bool


_EMPTY = UserAgentInfo(device="other", os="other", browser="other", bot=False)


def _first_match(low: str, rules: tuple[tuple[tuple[str, ...], str], ...]) -> str:
    for tokens, name in rules:
        if any(t in low for t in tokens):
            return name
    return "other"


def _device(low: str, bot: bool) -> str:
    if bot:
        return "bot"
    if any(t in low for t in _TABLET_TOKENS) or ("android" in low and "mobi" not in low):
        return "tablet"
    if any(t in low for t in _MOBILE_TOKENS):
        return "mobile"
    if any(t in low for t in _DESKTOP_TOKENS):
        return "desktop"
    return "other"


def classify(ua: str) -> UserAgentInfo:
    """Apply the rules to one User-Agent string (no caching)."""
    if not ua.strip():
        return _EMPTY
    low = ua.lower()
    bot_text = low
    for name in _NOT_BOT_NAMES:
        bot_text = bot_text.replace(name, "")
    bot = any(t in bot_text for t in _BOT_TOKENS)
    return UserAgentInfo(
        device=_device(low, bot),
        os=_first_match(low, _OS_RULES),
        browser=_first_match(low, _BROWSER_RULES),
        bot=bot,
    )


class UserAgentParser:
    """`classify` with a bounded memory of recent User-Agents (cleared when full)."""

    def __init__(self, cache_entries: int = DEFAULT_CACHE_ENTRIES):
        self._cache_entries = cache_entries
        self._cache: dict[str, UserAgentInfo] = {}

    def parse(self, ua: str) -> UserAgentInfo:
        info = self._cache.get(ua)
        if info is None:
            info = classify(ua)
            if len(self._cache) >= self._cache_entries:
                self._cache.clear()
            self._cache[ua] = info
        return info
