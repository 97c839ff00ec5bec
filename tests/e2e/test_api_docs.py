"""The API's documentation pages work without internet access: every asset is served by us."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.server import RunningServer

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_documentation_page_loads_only_assets_this_server_serves(
    server: RunningServer, page: str
) -> None:
    html = httpx.get(server.base_url + page)
    assert html.status_code == 200
    assets = ASSET.findall(html.text)
    scripts = [asset for asset in assets if asset.endswith(".js")]
    assert scripts, "the page loads its script"
    assert [asset for asset in assets if "://" in asset] == []
    for asset in assets:
        loaded = httpx.get(server.base_url + asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 1000, asset
    assert "fonts.googleapis.com" not in html.text
