"""moto server for billrun's tests, with one fix to its cost model.

moto 5.2.5 backs up a whole DynamoDB table (copy.deepcopy) for every action of every
TransactWriteItems call, and answers a Query on the table's own key by scanning every
item of the table, so a run that reads and commits each account costs O(accounts^2) on
it. This launcher backs up only the items a transaction touches (restoring exactly those
when it is canceled: the same all-or-nothing behaviour), and lets a table Query look only
at its partition; and SQS checks a message's retention period without building every
attribute of its queue for each message it looks at. Results are unchanged.

One moto fault is worked around: `/moto-api/data.json` (the tests read SES's sent mail
there) reads every S3 key's restore status, which moto advances to RESTORED at once and
then notifies the key's bucket; a multipart upload's parts are keys without a bucket, so
after any multipart upload (an export) the read failed with 500. billrun restores
nothing: the restore status is kept still. Nothing else about moto is changed.

    python moto_server.py -H 127.0.0.1 -p PORT
"""

import copy
import sys
import threading

import inspect

import moto.dynamodb.models as models
from moto.dynamodb.models.table import Table
from moto.core.utils import unix_time
from moto.server import main
import moto.sqs.models as sqs_models

_original = models.DynamoDBBackend.transact_write_items
_lock = threading.Lock()


class _NoTableCopy:
    """`copy` as moto's transaction code sees it: tables are not copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, models.Table):
            return value
        return copy.deepcopy(value, memo)


models.copy = _NoTableCopy()


def _key_of(backend, op_type, op):
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if op_type == "Put":
        attrs = op.get("Item", {})
        if table.hash_key_attr not in attrs:
            return None
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                return None
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op.get("Key")


def transact_write_items(self, transact_items):
    with _lock:
        backups = []
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            key = _key_of(self, op_type, op)
            if key is None:
                continue
            try:
                current = self.get_item(op["TableName"], key)
            except Exception:  # noqa: BLE001 - an invalid key fails in the original too
                current = None
            before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
            backups.append((op["TableName"], key, before))
        try:
            return _original(self, transact_items)
        except Exception:
            for table_name, key, before in reversed(backups):
                try:
                    if before is None:
                        self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, before)
                except Exception:  # noqa: BLE001 - restore what can be restored
                    pass
            raise


models.DynamoDBBackend.transact_write_items = transact_write_items

_query = Table.query
_all_items = Table.all_items
_query_signature = inspect.signature(_query)
_partition = threading.local()


def query(self, *args, **kwargs):
    bound = _query_signature.bind(self, *args, **kwargs)
    hash_key = bound.arguments.get("hash_key")
    if bound.arguments.get("index_name") is None and hash_key is not None:
        _partition.key = hash_key
    try:
        return _query(self, *args, **kwargs)
    finally:
        _partition.key = None


def all_items(self):
    key = getattr(_partition, "key", None)
    if key is None:
        return _all_items(self)
    _partition.key = None  # only the query's own scan is narrowed
    part = self.items.get(key) if key in self.items else None
    if part is None:
        return iter(())
    if self.range_key_attr is not None:
        return iter(list(part.values()))
    return iter([part])


Table.query = query
Table.all_items = all_items


def is_message_valid_based_on_retention_period(self, queue_name, message):
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return retain_until > unix_time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
    is_message_valid_based_on_retention_period
)

# A restore status that never advances (see the module's note).
from moto.moto_api import state_manager  # noqa: E402

state_manager.set_transition(
    model_name="s3::keyrestore", transition={"progression": "manual", "times": 2**62}
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
