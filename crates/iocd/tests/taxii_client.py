"""Drives iocd's TAXII 2.1 server with the OASIS taxii2-client, as any TAXII consumer would.

Usage: python taxii_client.py BASE_URL WRITER_TOKEN READER_TOKEN
Prints OK when every step behaved; any failure raises.
"""
import sys

import requests
from taxii2client.v21 import Server, as_pages
from taxii2client.exceptions import AccessError, TAXIIServiceException


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.token
        return request


def indicator(n, pattern):
    return {
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--7a2e0000-0000-4000-8000-%012d" % n,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
        "name": "client item %d" % n, "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    }


base, writer_token, reader_token = sys.argv[1:4]

server = Server(base + "/taxii2/", auth=Bearer(writer_token))
assert server.title == "iocd TAXII server", server.title
root = server.default
assert root.versions == ["application/taxii+json;version=2.1"], root.versions
collections = root.collections
assert len(collections) == 1
collection = collections[0]
assert collection.can_read and collection.can_write

objects = [indicator(n, "[ipv4-addr:value = '203.0.113.%d']" % n) for n in range(1, 31)]
objects.append(indicator(99, "[process:name = 'evil.exe']"))
status = collection.add_objects({"objects": objects})
assert status.status == "complete", status.status
assert status.total_count == 31 and status.success_count == 30 and status.failure_count == 1
assert "has no indicator type" in status.failures[0]["message"], status.failures
status.refresh()
assert status.success_count == 30

envelope = collection.get_objects()
assert len(envelope["objects"]) == 30, len(envelope["objects"])
paged = []
for page in as_pages(collection.get_objects, per_request=7):
    paged.extend(o["id"] for o in page.get("objects", []))
assert paged == [o["id"] for o in objects[:30]], paged

manifest = collection.get_manifest()
assert len(manifest["objects"]) == 30
assert manifest["objects"][0]["media_type"] == "application/stix+json;version=2.1"

first = objects[0]["id"]
one = collection.get_object(first)
assert one["objects"][0]["pattern"] == "[ipv4-addr:value = '203.0.113.1']", one
versions = collection.object_versions(first)
# The collection holds iocd's rendering: its version is when iocd wrote the indicator.
assert versions["versions"] == [one["objects"][0]["modified"]], versions
filtered = collection.get_objects(added_after=envelope["objects"][-1]["modified"])
assert isinstance(filtered.get("objects", []), list)

collection.delete_object(first)
try:
    collection.get_object(first)
    raise AssertionError("a deleted object was still there")
except requests.HTTPError as error:
    assert error.response.status_code == 404, error

# A reader can read but not write.
reader_collection = Server(base + "/taxii2/", auth=Bearer(reader_token)).default.collections[0]
assert reader_collection.can_read and not reader_collection.can_write
assert len(reader_collection.get_objects()["objects"]) == 29
try:
    reader_collection.add_objects({"objects": [indicator(100, "[domain-name:value = 'r.example']")]})
    raise AssertionError("a reader wrote")
except (AccessError, TAXIIServiceException, requests.HTTPError) as error:
    assert "403" in str(error) or "Forbidden" in str(error) or isinstance(error, AccessError), error

print("OK")
