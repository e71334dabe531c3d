"""Turning the fields of one tracking request into a validated `events` row."""

from tracker.events.builder import BuilderConfig, EventBuilder
from tracker.events.campaign import campaign_from_url, host_from_url
from tracker.events.client_ip import ClientIpResolver
from tracker.events.context import RequestContext
from tracker.events.cookieless import DailySalt, cookieless_ids
from tracker.events.cookies import CookieUpdate
from tracker.events.fields import FieldError
from tracker.events.privacy import KeyedHasher, anonymize_ip, load_or_create_secret
from tracker.events.useragent import UserAgentInfo, UserAgentParser

__all__ = [
    "BuilderConfig",
    "ClientIpResolver",
    "CookieUpdate",
    "DailySalt",
    "EventBuilder",
    "FieldError",
    "KeyedHasher",
    "RequestContext",
    "UserAgentInfo",
    "UserAgentParser",
    "anonymize_ip",
    "campaign_from_url",
    "cookieless_ids",
    "host_from_url",
    "load_or_create_secret",
]
