"""Refusals a page can get carry a stable ``code`` and its ``params`` beside the English
``detail``: a controller conflict, a validation error, a missing role, a login lockout."""

from __future__ import annotations

from tests.unit.test_clerk_api import Terminal, terminal  # noqa: F401 - the fixture


async def test_opening_a_window_someone_else_holds_says_who_in_code_and_params(
        terminal: Terminal) -> None:  # noqa: F811
    carl, cleo = await terminal.login("carl"), await terminal.login("cleo")
    assert (await terminal.client.post("/api/v1/windows/w1/open", headers=carl)).status_code == 200
    refused = await terminal.client.post("/api/v1/windows/w1/open", headers=cleo)
    assert refused.status_code == 409
    # The window's number as the hall says it (1 号窗口), not its id.
    assert refused.json() == {"detail": "window w1 is open by carl", "code": "window.open_by_other",
                              "params": {"window": 1, "clerk": "carl"}}
    acting = await terminal.client.post("/api/v1/windows/w1/call-next", headers=cleo)
    assert acting.json()["code"] == "window.open_by_other"
    assert acting.json()["params"] == {"window": 1, "clerk": "carl"}


async def test_a_move_the_ticket_does_not_allow_names_ticket_move_and_state(
        terminal: Terminal) -> None:  # noqa: F811
    cleo = await terminal.login("cleo")
    await terminal.take("student-id")
    await terminal.client.post("/api/v1/windows/w1/open", headers=cleo)
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=cleo)
    await terminal.client.post("/api/v1/windows/w1/start", headers=cleo)
    refused = await terminal.client.post("/api/v1/windows/w1/recall", headers=cleo)
    assert refused.status_code == 409
    assert refused.json()["code"] == "ticket.invalid_move"
    assert refused.json()["params"] == {"ticket": "A001", "move": "recall", "state": "serving"}


async def test_a_transfer_to_an_unknown_service_and_a_bad_body_have_codes(
        terminal: Terminal) -> None:  # noqa: F811
    cleo = await terminal.login("cleo")
    await terminal.take("student-id")
    await terminal.client.post("/api/v1/windows/w1/open", headers=cleo)
    await terminal.client.post("/api/v1/windows/w1/call-next", headers=cleo)
    unknown = await terminal.client.post("/api/v1/windows/w1/transfer", headers=cleo,
                                         json={"service": "no-such"})
    assert unknown.status_code == 404
    assert (unknown.json()["code"], unknown.json()["params"]) == (
        "service.unknown", {"service": "no-such"})
    malformed = await terminal.client.post("/api/v1/windows/w1/transfer", headers=cleo,
                                           json={"service": 7})
    assert malformed.status_code == 422
    body = malformed.json()
    assert body["code"] == "request.invalid" and body["params"] == {"field": "service"}
    assert isinstance(body["detail"], list) and body["detail"][0]["loc"] == ["body", "service"]


async def test_a_missing_role_and_a_missing_route_have_codes(terminal: Terminal) -> None:  # noqa: F811
    fay = await terminal.login("fay")
    refused = await terminal.client.post("/api/v1/windows/w1/open", headers=fay)
    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.role_needed"
    assert refused.json()["params"] == {"roles": "admin, clerk, supervisor", "role": "facilities"}
    nothing = await terminal.client.get("/api/v1/no-such-thing", headers=fay)
    assert (nothing.status_code, nothing.json()["code"]) == (404, "not_found")
    anonymous = await terminal.client.get("/api/v1/windows")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.invalid_token")


async def test_a_wrong_method_and_a_refused_password_have_codes(terminal: Terminal) -> None:  # noqa: F811
    cleo = await terminal.login("cleo")
    wrong = await terminal.client.delete("/api/v1/windows", headers=cleo)
    assert (wrong.status_code, wrong.json()["code"]) == (405, "request.method_not_allowed")
    weak = await terminal.client.post("/api/v1/auth/password", headers=cleo, json={
        "current_password": "clerk-pass-1", "new_password": "short"})
    assert weak.status_code == 422
    # A too-short password is the server's rule (10 characters), with the minimum to say.
    assert (weak.json()["code"], weak.json()["params"]) == ("password.too_short", {"min": 10})
    named = await terminal.client.post("/api/v1/auth/password", headers=cleo, json={
        "current_password": "clerk-pass-1", "new_password": "my-cleo-password"})
    assert (named.status_code, named.json()["code"]) == (422, "password.contains_username")
