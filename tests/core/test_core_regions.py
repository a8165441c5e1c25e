"""Regions: every region of docs/protocol.md#hosts-and-regions, by code and by domain,
and in WebChatApi."""

from __future__ import annotations

import pytest

from webchat_async.api import WebChatApi
from webchat_async.regions import REGIONS, resolve_region

# docs/protocol.md#hosts-and-regions, copied by hand: the test fails if the table and the
# code drift.
TABLE = [
    ("us-east-1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"),
    ("eu-west-1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"),
    ("ap-southeast-2", "https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au"),
    ("ap-northeast-1", "https://api.mypurecloud.jp", "https://login.mypurecloud.jp"),
    ("eu-central-1", "https://api.mypurecloud.de", "https://login.mypurecloud.de"),
    ("us-west-2", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"),
    ("ca-central-1", "https://api.cac1.pure.cloud", "https://login.cac1.pure.cloud"),
    ("ap-northeast-2", "https://api.apne2.pure.cloud", "https://login.apne2.pure.cloud"),
    ("eu-west-2", "https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud"),
    ("ap-south-1", "https://api.aps1.pure.cloud", "https://login.aps1.pure.cloud"),
    ("us-east-2", "https://api.use2.us-gov-pure.cloud", "https://login.use2.us-gov-pure.cloud"),
    ("sa-east-1", "https://api.sae1.pure.cloud", "https://login.sae1.pure.cloud"),
    ("me-central-1", "https://api.mec1.pure.cloud", "https://login.mec1.pure.cloud"),
    ("ap-northeast-3", "https://api.apne3.pure.cloud", "https://login.apne3.pure.cloud"),
    ("eu-central-2", "https://api.euc2.pure.cloud", "https://login.euc2.pure.cloud"),
    ("mx-central-1", "https://api.mxc1.pure.cloud", "https://login.mxc1.pure.cloud"),
    ("ap-southeast-1", "https://api.apse1.pure.cloud", "https://login.apse1.pure.cloud"),
    ("eusc-de-east-1", "https://api.edee1.eusc-pure.cloud", "https://login.edee1.eusc-pure.cloud"),
]


def test_table_matches_the_code() -> None:
    assert [(r.code, r.api_base, r.login_base) for r in REGIONS] == TABLE


@pytest.mark.parametrize(("code", "api", "login"), TABLE)
def test_resolve_by_code_and_domain(code: str, api: str, login: str) -> None:
    domain = api.removeprefix("https://api.")
    by_code, by_domain = resolve_region(code), resolve_region(domain)
    assert by_code == by_domain
    assert (by_code.api_base, by_code.login_base) == (api, login)
    assert resolve_region(code.upper()) == by_code
    assert resolve_region(f"api.{domain}") == by_code


@pytest.mark.parametrize(("code", "api", "login"), TABLE)
async def test_api_uses_the_region_hosts(code: str, api: str, login: str) -> None:
    domain = api.removeprefix("https://api.")
    for name in (code, domain):
        client = WebChatApi(region=name)
        assert client.base_url == api
        assert client.login_url == login
        await client.aclose()


async def test_default_region_is_us_east_1() -> None:
    async with WebChatApi() as api:
        assert api.base_url == "https://api.mypurecloud.com"
        assert api.login_url == "https://login.mypurecloud.com"


@pytest.mark.parametrize("name", ["mars-north-1", "mypurecloud.example", ""])
def test_unknown_region_raises(name: str) -> None:
    with pytest.raises(ValueError, match="unknown region"):
        resolve_region(name)
    with pytest.raises(ValueError, match="unknown region"):
        WebChatApi(region=name)
