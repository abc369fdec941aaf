"""The hub's faster use of stix2-validator (issue #17 row 12) reports exactly what the library does alone.

``share/hub.py`` builds each schema validator once, asks jsonschema-rs first, skips SHOULD checks (warnings,
never reported) and memoises timestamp and pattern parsing; the errors for valid and broken objects must be
the library's own, computed here in a fresh interpreter with stix2-validator untouched.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

from cibscope.share.hub import stix_errors
from cibscope.share.markings import TLP2_IDS


def _objects() -> list[dict]:
    ta = {"type": "threat-actor", "spec_version": "2.1", "id": f"threat-actor--{uuid.uuid4()}",
          "created": "2018-02-16T00:00:00.000Z", "modified": "2018-02-16T00:00:00.000Z", "name": "IRA",
          "threat_actor_types": ["nation-state"], "object_marking_refs": [TLP2_IDS["clear"]]}
    ind = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
           "created": "2023-05-03T00:00:00.000Z", "modified": "2023-05-03T00:00:00.000Z",
           "pattern": "[domain-name:value = 'a.example']", "pattern_type": "stix",
           "valid_from": "2023-05-03T00:00:00Z"}
    ua = {"type": "user-account", "spec_version": "2.1", "id": f"user-account--{uuid.uuid4()}",
          "user_id": "1", "account_login": "x"}
    return [ta, ind, ua,
            dict(ta, created="2018-02-30T00:00:00.000Z"),             # no 30 February (MUST: timestamp)
            dict(ta, modified="2017-01-01T00:00:00.000Z"),            # modified before created
            dict(ta, created="yesterday"),                           # schema: not a timestamp
            dict(ta, threat_actor_types="nation-state"),             # schema: not a list
            dict(ind, pattern="[domain-name:value = 'a.example'"),     # pattern syntax
            dict(ind, pattern="[domain-name:valu = 'a.example']"),     # unknown property in a pattern
            dict(ind, pattern="[domain-name:value = 'a.example']"),    # the same pattern again (memoised)
            dict(ind, pattern_type=5),
            dict(ua, id="user-account--not-a-uuid"),
            dict(ua, extra_property={"nested": [1, 2]}),
            {"type": "observed-data", "spec_version": "2.1", "id": f"observed-data--{uuid.uuid4()}",
             "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
             "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2019-01-01T00:00:00Z",
             "number_observed": 0, "object_refs": [ua["id"]]}]


#: stix2-validator alone, with the same handling of its exceptions as ``hub._validate_canonical``.
PRISTINE = """
import json, sys
from stix2validator import ValidationError, ValidationOptions, validate_instance
out = []
for o in json.load(sys.stdin):
    try:
        r = validate_instance(o, ValidationOptions(version="2.1"))
        out.append(sorted(str(e) for e in r.errors))
    except ValidationError as exc:
        out.append([str(exc)])
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        out.append([f"the validator could not check this object ({type(exc).__name__}: {exc})"])
print(json.dumps(out))
"""


def test_errors_equal_the_untouched_library():
    objs = _objects()
    want = json.loads(subprocess.run([sys.executable, "-c", PRISTINE], input=json.dumps(objs), text=True,
                                     capture_output=True, check=True).stdout)
    got = [sorted(stix_errors(o)) for o in objs]
    assert got == want
    assert got[:3] == [[], [], []] and sum(map(bool, got)) >= 6  # the broken ones are refused
