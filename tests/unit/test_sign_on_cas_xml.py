"""Reading the CAS server's answers (CAS Protocol 3.0 §2.5, §2.3.3): the user and attributes
of a success, the code of a failure, and the hostile XML a server (or someone posting to the
single-logout URL) could send."""

from __future__ import annotations

import pytest

from hall_controller.sign_on.cas import parse_logout_request, parse_service_response
from hall_controller.sign_on.rules import Refusal, SignOnRefused

SUCCESS = b"""<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationSuccess>
  <cas:user>zhang.wei</cas:user>
  <cas:attributes>
   <cas:groups>hall-clerks</cas:groups>
   <cas:groups>hall-supervisors</cas:groups>
   <cas:\xe4\xba\xba\xe5\x91\x98\xe7\xb1\xbb\xe5\x88\xab>\xe6\x95\x99\xe8\x81\x8c\xe5\xb7\xa5</cas:\xe4\xba\xba\xe5\x91\x98\xe7\xb1\xbb\xe5\x88\xab>
   <cas:student_id>T2001</cas:student_id>
  </cas:attributes>
 </cas:authenticationSuccess>
</cas:serviceResponse>"""


def test_a_success_gives_the_user_and_attributes_repeated_ones_as_lists() -> None:
    user, attributes = parse_service_response(SUCCESS)
    assert user == "zhang.wei"
    assert attributes == {"groups": ["hall-clerks", "hall-supervisors"], "人员类别": "教职工",
                          "student_id": "T2001"}


@pytest.mark.parametrize(("body", "says"), [
    (b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure '
     b'code="INVALID_SERVICE">other service</cas:authenticationFailure></cas:serviceResponse>',
     "INVALID_SERVICE"),
    (b'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>'
     b'<cas:user> </cas:user></cas:authenticationSuccess></cas:serviceResponse>', "no user"),
    (b"<html>502 Bad Gateway</html>", "no user"),
    (b"not xml at all", "not XML"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DTD"),
    (b"<x>" + b"a" * 70_000 + b"</x>", "too large"),
])
def test_failures_and_hostile_answers_are_refused(body: bytes, says: str) -> None:
    with pytest.raises(SignOnRefused, match=says) as caught:
        parse_service_response(body)
    assert caught.value.code is Refusal.PROVIDER


def test_a_logout_request_names_its_ticket() -> None:
    request = ('<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
               'ID="1" Version="2.0"><samlp:SessionIndex> ST-abc </samlp:SessionIndex>'
               "</samlp:LogoutRequest>")
    assert parse_logout_request(request) == "ST-abc"
    for bad in ("<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>",
                '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'):
        with pytest.raises(SignOnRefused):
            parse_logout_request(bad)
