"""User-Agent rules: device, OS, browser and bot flag."""

import pytest

from tracker.events.useragent import UserAgentInfo, UserAgentParser, classify

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
EDGE_WIN = CHROME_WIN + " Edg/124.0.2478.51"
OPERA_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0")
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.4 Safari/605.1.15")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1")
CHROME_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36")
SAMSUNG_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"
CHROMEOS = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36")
CUBOT_PHONE = ("Mozilla/5.0 (Linux; Android 10; CUBOT KINGKONG 5 Pro) AppleWebKit/537.36 "
               "(KHTML, like Gecko) Chrome/110.0.0.0 Mobile Safari/537.36")
IE_WIN = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0; Microsoft Outlook)"


@pytest.mark.parametrize(
    ("ua", "device", "os", "browser"),
    [
        (CHROME_WIN, "desktop", "Windows", "Chrome"),
        (EDGE_WIN, "desktop", "Windows", "Edge"),
        (OPERA_MAC, "desktop", "macOS", "Opera"),
        (SAFARI_MAC, "desktop", "macOS", "Safari"),
        (SAFARI_IPHONE, "mobile", "iOS", "Safari"),
        (SAFARI_IPAD, "tablet", "iOS", "Safari"),
        (CHROME_IOS, "mobile", "iOS", "Chrome"),
        (CHROME_ANDROID, "mobile", "Android", "Chrome"),
        (SAMSUNG_TABLET, "tablet", "Android", "Samsung Internet"),
        (FIREFOX_LINUX, "desktop", "Linux", "Firefox"),
        (FIREFOX_ANDROID, "mobile", "Android", "Firefox"),
        (CHROMEOS, "desktop", "ChromeOS", "Chrome"),
        (CUBOT_PHONE, "mobile", "Android", "Chrome"),
        (IE_WIN, "desktop", "Windows", "other"),
        ("MyApp/2.1", "other", "other", "other"),
    ],
)
def test_browsers(ua, device, os, browser):
    assert classify(ua) == UserAgentInfo(device=device, os=os, browser=browser, bot=False)


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        CHROME_WIN.replace("Chrome/", "HeadlessChrome/"),
        "SomeNewCrawler/0.1",
        "my-spider 1.0",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) Chrome/124.0 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ],
)
def test_bots(ua):
    info = classify(ua)
    assert info.bot is True
    assert info.device == "bot"


def test_empty_user_agent():
    assert classify("") == UserAgentInfo(device="other", os="other", browser="other", bot=False)


def test_parser_caches_and_stays_bounded():
    parser = UserAgentParser(cache_entries=2)
    first = parser.parse(CHROME_WIN)
    assert parser.parse(CHROME_WIN) is first
    for ua in (SAFARI_MAC, FIREFOX_LINUX, EDGE_WIN):
        parser.parse(ua)
    assert len(parser._cache) <= 2
    assert parser.parse(EDGE_WIN).browser == "Edge"
