"""The reference Kafka configuration (03-events/contracts/kafka/topics.yaml), checked offline as
far as a schema we can get offline goes:

- the file parses, and every document is a Strimzi KafkaTopic;
- its topics are exactly the streams the code writes (orders/events/stream.py);
- each `metadata` is a valid Kubernetes ObjectMeta: the schema that kubernetes-validate bundles,
  strict (no unknown field), and a name Kubernetes accepts (DNS-1123 subdomain);
- the settings agree with each other (a write can succeed with one broker down; retention is
  time-based deletion, as the stream's replay needs).

NOT checked: `spec` against Strimzi's own CRD schema, which no package here carries offline.
"""

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator
from orders.events import stream
from referencing import Registry, Resource

TOPICS = Path(__file__).resolve().parents[4] / "contracts" / "kafka" / "topics.yaml"
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_1123_SUBDOMAIN = re.compile(rf"^{LABEL}(\.{LABEL})*$")  # Kubernetes' rule for a name


def documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(TOPICS.read_text(encoding="utf-8")) if doc]


def object_meta_validator() -> Draft202012Validator:
    """ObjectMeta as kubernetes-validate bundles it for Kubernetes 1.37, strict."""
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / \
        "v1.37.0-local-strict"
    schema = json.loads((base / "objectmeta-meta-v1.json").read_text())
    definitions = json.loads((base / "_definitions.json").read_text())
    registry = Registry().with_resource(
        "/api/_definitions.json", Resource.from_contents(definitions))
    return Draft202012Validator(schema, registry=registry)


def test_every_document_is_a_strimzi_kafka_topic():
    docs = documents()
    assert docs, f"{TOPICS} declares nothing"
    for doc in docs:
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2" and doc["kind"] == "KafkaTopic"
        assert doc["metadata"]["labels"]["strimzi.io/cluster"]


def test_the_topics_are_the_streams_the_code_writes():
    topics = {doc["spec"].get("topicName", doc["metadata"]["name"]) for doc in documents()}
    assert topics == {stream.TOPIC}
    streams = {doc["metadata"]["annotations"]["workshop.example/redis-stream"]
               for doc in documents()}
    assert streams == {stream.STREAM}


@pytest.mark.parametrize("doc", documents(), ids=lambda d: d["metadata"]["name"])
def test_the_metadata_is_a_valid_kubernetes_object_meta(doc):
    errors = [e.message for e in object_meta_validator().iter_errors(doc["metadata"])]
    assert not errors, errors
    assert DNS_1123_SUBDOMAIN.match(doc["metadata"]["name"]) and len(doc["metadata"]["name"]) <= 253


def test_the_validator_rejects_bad_metadata():
    """The schema above can fail: an unknown field and a wrong type are caught."""
    validator = object_meta_validator()
    assert list(validator.iter_errors({"name": "orders", "labelz": {}}))
    assert list(validator.iter_errors({"name": "orders", "labels": {"a": 1}}))


@pytest.mark.parametrize("doc", documents(), ids=lambda d: d["metadata"]["name"])
def test_the_settings_agree_with_each_other(doc):
    spec, config = doc["spec"], doc["spec"]["config"]
    assert spec["partitions"] >= 1
    # acks=all succeeds with one replica down, and never on a single copy.
    assert 2 <= config["min.insync.replicas"] < spec["replicas"]
    # Replay needs the log kept by time, not compacted to the last event of each order.
    assert config["cleanup.policy"] == "delete" and config["retention.ms"] >= 24 * 3600 * 1000
