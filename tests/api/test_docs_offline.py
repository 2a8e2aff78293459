"""/docs and /redoc load every asset from the sidecar itself: no CDN, so they work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from context_service.api import create_app

LOCAL = ("127.0.0.1", 40000)  # the docs are open to loopback clients (CTX_METRICS_ACCESS)


@pytest.fixture
def client(make_service) -> Iterator[TestClient]:
    with TestClient(
        create_app(service=make_service(api_token="t0ken")), client=LOCAL
    ) as test_client:
        yield test_client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text)
    urls += re.findall(r"""url:\s*'([^']+)'""", response.text)
    assert urls, "the page names its assets"
    for url in urls:
        assert not url.startswith(("http:", "https:", "//")), f"{page} loads {url} from outside"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_swagger_ui_bundle_reads_openapi_31(client: TestClient) -> None:
    """FastAPI writes OpenAPI 3.1, which Swagger UI renders only from major version 5 on."""
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle), "a Swagger UI 5 bundle"


def test_unknown_asset_is_404_and_docs_still_work(client: TestClient) -> None:
    assert client.get("/docs/assets/../settings.py").status_code == 404
    assert client.get("/docs/assets/nope%0A.js").status_code == 404
    assert client.get("/docs").status_code == 200


def test_assets_follow_the_docs_access_rule(make_service) -> None:
    """From elsewhere, the page and its assets need the operator token alike."""
    app = create_app(service=make_service(api_token="op-Xq7Lm2pZ9rT4vWb8sKd1fGh6jNc3yE"))
    with TestClient(app, client=("10.1.2.3", 5000)) as remote:
        assert remote.get("/docs").status_code == 401
        assert remote.get("/docs/assets/swagger-ui.css").status_code == 401
        auth = {"Authorization": "Bearer op-Xq7Lm2pZ9rT4vWb8sKd1fGh6jNc3yE"}
        assert remote.get("/docs/assets/swagger-ui.css", headers=auth).status_code == 200
