"""Point a third-party Stripe client at the loopback fake without changing its logic.

Loaded automatically by Python when this folder is on PYTHONPATH. When
COMPARE_STRIPE_TARGET is set (e.g. ``http://127.0.0.1:12111``), every request that
``requests`` sends to ``https://api.stripe.com`` goes to that address instead: the
path, query, headers and retry/pagination logic of the tool are untouched. Both
tap-stripe (stripe SDK's RequestsClient) and Airbyte's source-stripe (airbyte-cdk
HttpClient) send through ``requests.adapters.HTTPAdapter.send``.

COMPARE_CLIENT_LOG, when set, gets one line per request sent (client-side cross-check
of the server's count).
"""

import os

_TARGET = os.environ.get("COMPARE_STRIPE_TARGET")
_LOG = os.environ.get("COMPARE_CLIENT_LOG")
_PREFIX = "https://api.stripe.com"

if _TARGET:
    import requests.adapters

    _original_send = requests.adapters.HTTPAdapter.send

    def _send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        if request.url and request.url.startswith(_PREFIX):
            request.url = _TARGET + request.url[len(_PREFIX):]
        if _LOG:
            with open(_LOG, "a") as f:
                f.write(f"{request.method} {request.url}\n")
        return _original_send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = _send
