"""Daily salt and cookieless ids."""

import hmac
import re

from tracker.events.cookieless import DailySalt, cookieless_ids

SECRET = b"k" * 32
DAY_MS = 86_400_000
UUID8 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_salt_is_hmac_of_the_utc_date_and_rotates_at_midnight():
    salt = DailySalt(SECRET)
    noon = 19_800 * DAY_MS + DAY_MS // 2  # 2024-03-18 12:00 UTC
    assert salt.for_time(noon) == hmac.digest(SECRET, b"daily-salt:2024-03-18", "sha256")
    assert salt.for_time(19_801 * DAY_MS - 1) == salt.for_time(noon)
    assert salt.for_time(19_801 * DAY_MS) != salt.for_time(noon)


def test_salt_is_the_same_for_every_process_with_the_secret():
    assert DailySalt(SECRET).for_time(5 * DAY_MS) == DailySalt(SECRET).for_time(5 * DAY_MS + 7)


def test_ids_are_version_8_uuids_stable_within_a_day():
    salt = DailySalt(SECRET).for_time(0)
    vid, sid = cookieless_ids(salt, "site", "203.0.113.0", "UA")
    assert UUID8.match(vid) and UUID8.match(sid)
    assert vid != sid
    assert cookieless_ids(salt, "site", "203.0.113.0", "UA") == (vid, sid)


def test_ids_change_with_site_ip_agent_and_day():
    salt = DailySalt(SECRET)
    base = cookieless_ids(salt.for_time(0), "site", "203.0.113.0", "UA")
    assert cookieless_ids(salt.for_time(0), "other", "203.0.113.0", "UA") != base
    assert cookieless_ids(salt.for_time(0), "site", "198.51.100.0", "UA") != base
    assert cookieless_ids(salt.for_time(0), "site", "203.0.113.0", "UA2") != base
    assert cookieless_ids(salt.for_time(DAY_MS), "site", "203.0.113.0", "UA") != base
