"""Each connector action calls a real API view, with the scope that view requires: the
dispatch table cannot drift from the API's routes unnoticed."""

from __future__ import annotations

from typing import Any

from api.connectors.dispatch import ROUTES
from shared.connectors.config import ACTION_KINDS


def test_every_action_reaches_an_api_view_requiring_its_scope(app: Any) -> None:
    assert set(ROUTES) == set(ACTION_KINDS)
    adapter = app.url_map.bind("localhost")
    for kind, (method, path, scope) in ROUTES.items():
        endpoint, _ = adapter.match(f"/api/demo{path.replace('{passId}', 'P-1')}", method=method)
        view = getattr(app.view_functions[endpoint].view_class, method.lower())
        assert view.required_scope == scope, kind
