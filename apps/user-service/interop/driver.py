"""Calls the seed's Python clients (the seed_*.py files, unchanged) against a running user service and
prints one JSON line with what they returned. The integration tests run it; see docs/interop.md.

    driver.py rest BASE_URL                 APIClient: create, replay, conflict, get, list, put, delete
    driver.py rest-create BASE_URL KEY      APIClient: one POST /users with Idempotency-Key KEY
    driver.py grpc HOST PORT                GrpcUserClient: create, get, get unknown, list pages, errors
    driver.py amqp-consume BASE_URL QUEUE   MessageConsumer on QUEUE (user.*), a user created via APIClient
    driver.py amqp-publish ID               MessageProducer: one user.created message with id ID ("-": none)
    driver.py amqp-get QUEUE                the messages waiting in QUEUE (pika's basic_get), removed
    driver.py kafka-consume BASE_URL GROUP  a user created via APIClient, read by KafkaMessageConsumer
    driver.py kafka-produce KEY             KafkaMessageProducer: one record on user-events keyed KEY
    driver.py kafka-delete-groups GROUP...  deletes consumer groups that have no members left

Two snippets use a module they never import (`time` in MessageProducer.publish, `json` in
KafkaMessageConsumer); the driver supplies it as a module attribute and reports it under "seed_defects".
"""
import json
import sys
import time
import uuid

import grpc
import requests

WAIT_SECONDS = 60


def user_dict(user):
    import user_service_pb2

    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at,
        "status": user_service_pb2.UserStatus.Name(user.status),
    }


def http_status(call):
    try:
        call()
    except requests.HTTPError as error:
        return error.response.status_code
    return None


def unique_email(label):
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def rest(base_url):
    from seed_api_client import APIClient

    api = APIClient(base_url)
    key = str(uuid.uuid4())
    body = {"email": unique_email("rest"), "name": "Ada Lovelace"}
    created = api.post("/users", json=body, headers={"Idempotency-Key": key})
    replayed = api.post("/users", json=body, headers={"Idempotency-Key": key})
    other_body_same_key = http_status(
        lambda: api.post("/users", json={**body, "name": "Someone Else"}, headers={"Idempotency-Key": key})
    )
    duplicate_email = http_status(lambda: api.post("/users", json={**body, "name": "Twin"}))
    invalid_email = http_status(lambda: api.post("/users", json={"email": "not-an-email", "name": "X"}))
    got = api.get(f"/users/{created['id']}")
    second = api.post("/users", json={"email": unique_email("rest"), "name": "Grace Hopper"})
    first_page = api.get("/users", params={"page_size": 1})
    next_page = api.get("/users", params={"page_size": 1, "page_token": first_page["next_page_token"]})
    put = http_status(lambda: api.put(f"/users/{created['id']}", json={"name": "Ada"}))
    try:
        api.delete(f"/users/{second['id']}")
        delete = "returned"
    except ValueError as error:  # requests' JSONDecodeError: 204 has no body to parse
        delete = type(error).__name__
    after_delete = http_status(lambda: api.get(f"/users/{second['id']}"))
    return {
        "created": created,
        "replayed": replayed,
        "other_body_same_key": other_body_same_key,
        "duplicate_email": duplicate_email,
        "invalid_email": invalid_email,
        "got": got,
        "second": second,
        "first_page": first_page,
        "next_page": next_page,
        "put": put,
        "delete": delete,
        "after_delete": after_delete,
    }


def rest_create(base_url, key):
    from seed_api_client import APIClient

    api = APIClient(base_url)
    body = {"email": unique_email("retry"), "name": "Retried"}
    return {"created": api.post("/users", json=body, headers={"Idempotency-Key": key}), "email": body["email"]}


def grpc_calls(host, port):
    from seed_grpc_user_client import GrpcUserClient

    client = GrpcUserClient(host=host, port=int(port))
    created = [client.create_user(unique_email("grpc"), name) for name in ("Ada", "Grace", "Edsger")]
    got = client.get_user(created[0].id)
    unknown = client.get_user(str(uuid.uuid4()))
    first = client.list_users(page_size=2)
    second = client.list_users(page_size=2, page_token=first.next_page_token)
    errors = {}
    for label, call in (
        ("duplicate_email", lambda: client.create_user(created[0].email, "Twin")),
        ("invalid_email", lambda: client.create_user("not-an-email", "X")),
        ("empty_name", lambda: client.create_user(unique_email("grpc"), "")),
    ):
        try:
            call()
            errors[label] = None
        except grpc.RpcError as error:
            errors[label] = error.code().name
    return {
        "created": [user_dict(u) for u in created],
        "got": user_dict(got),
        "unknown": None if unknown is None else user_dict(unknown),
        "first_page": {"users": [user_dict(u) for u in first.users], "next_page_token": first.next_page_token},
        "second_page": {"users": [user_dict(u) for u in second.users], "next_page_token": second.next_page_token},
        "errors": errors,
    }


def amqp_consume(base_url, queue):
    from seed_api_client import APIClient
    from seed_message_consumer import MessageConsumer

    api = APIClient(base_url)
    consumer = MessageConsumer(queue=queue)
    state = {"user": None, "messages": [], "timed_out": False}

    def create_user():
        state["user"] = api.post("/users", json={"email": unique_email("amqp"), "name": "Rabbit"})

    def give_up():
        state["timed_out"] = True
        consumer.channel.stop_consuming()

    def handle(message):
        state["messages"].append(message)
        if state["user"] is not None and message.get("id") == state["user"]["id"]:
            consumer.channel.stop_consuming()

    # consume() binds the queue, then runs the connection's timers while it consumes: the user is
    # created once the binding exists.
    consumer.connection.call_later(0, create_user)
    consumer.connection.call_later(WAIT_SECONDS, give_up)
    consumer.consume(handle)
    consumer.channel.queue_delete(queue=queue)
    consumer.close()
    mine = [m for m in state["messages"] if state["user"] and m.get("id") == state["user"]["id"]]
    return {"user": state["user"], "received": mine, "timed_out": state["timed_out"]}


def amqp_publish(message_id):
    import seed_message_producer

    defects = []
    if not hasattr(seed_message_producer, "time"):
        defects.append("MessageProducer.publish uses time without importing it")
        seed_message_producer.time = time
    producer = seed_message_producer.MessageProducer()
    message = {"email": unique_email("pika"), "timestamp": int(time.time() * 1000)}
    if message_id != "-":
        message["id"] = message_id
    producer.publish("user.created", message)
    producer.close()
    return {"sent": message, "seed_defects": defects}


def amqp_get(queue):
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
    channel = connection.channel()
    got = []
    while True:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
        if method is None:
            break
        got.append({
            "routing_key": method.routing_key,
            "body": body.decode("utf-8"),
            "message_id": properties.message_id,
            "headers": {k: str(v) for k, v in (properties.headers or {}).items()},
        })
    connection.close()
    return {"messages": got}


def kafka_consume(base_url, group):
    import seed_kafka_consumer
    from seed_api_client import APIClient

    defects = []
    if not hasattr(seed_kafka_consumer, "json"):
        defects.append("KafkaMessageConsumer uses json without importing it")
        seed_kafka_consumer.json = json
    user = APIClient(base_url).post("/users", json={"email": unique_email("kafka"), "name": "Franz"})

    class Found(BaseException):
        """Ends consume(), which catches Exception only."""

    def handle(value, message):
        if message.key == user["id"].encode("utf-8"):
            raise Found(value, message)

    consumer = seed_kafka_consumer.KafkaMessageConsumer(["user-events"], group_id=group)
    try:
        consumer.consume(handle)
        return {"user": user, "received": None, "seed_defects": defects}
    except Found as found:
        value, message = found.args
        return {
            "user": user,
            "received": {
                "topic": message.topic,
                "partition": message.partition,
                "key": message.key.decode("utf-8"),
                "value": value,
                "headers": sorted(name for name, _ in (message.headers or [])),
            },
            "seed_defects": defects,
        }
    finally:
        consumer.close()
        delete_group(group)


def delete_group(group):
    kafka_delete_groups(group)


def kafka_delete_groups(*groups):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=["localhost:9092"])
    try:
        answers = admin.delete_consumer_groups(list(groups))
    finally:
        admin.close()
    return {"deleted": {group: error.__name__ for group, error in answers}}


def kafka_produce(key):
    from seed_kafka_producer import KafkaMessageProducer

    producer = KafkaMessageProducer()
    value = {"type": "USER_CREATED", "user_id": key, "email": unique_email("kafka"), "timestamp": 1699999999}
    metadata = producer.send("user-events", key=key, value=value)
    producer.close()
    return {"sent": value, "metadata": metadata}


COMMANDS = {
    "rest": rest,
    "rest-create": rest_create,
    "grpc": grpc_calls,
    "amqp-consume": amqp_consume,
    "amqp-publish": amqp_publish,
    "amqp-get": amqp_get,
    "kafka-consume": kafka_consume,
    "kafka-produce": kafka_produce,
    "kafka-delete-groups": kafka_delete_groups,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])), flush=True)
