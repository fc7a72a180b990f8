"""Open311 GeoReport v2 under `/open311/v2/` and service discovery at `/open311/discovery`.

Every resource is `.json` or `.xml`; errors of these routes (400, 403, 404, also for
an unknown format suffix or path) are in the spec's format: a list of
{code, description} (`<errors><error>...` in XML), never the JSON API's shape.
The ticket number (RO-YYMMDD-NNNN) is the service_request_id. Requests as shown
carry no personal data (services/public_tickets.py). See docs/open311.md.

`routes` (the router), `params` (reading a call's parameters), `views` (tickets and
categories as Open311 documents), `formats` (JSON and XML, errors).
"""
