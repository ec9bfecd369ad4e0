"""acls PROPERTIES PRINCIPAL: create, list and delete a prefixed ACL with kafka-python's admin
client (unmodified), printing what the broker answered at each step."""
import sys

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, ResourcePattern, ResourcePatternFilter, ResourceType)

from common import settings

properties, principal = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(**settings(properties))
acl = ACL(principal=principal, host="*", operation=ACLOperation.READ,
          permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.TOPIC, "invoices-", ACLResourcePatternType.PREFIXED))
created = admin.create_acls([acl])
assert not created["failed"], created
print("created", len(created["succeeded"]))
topic_filter = ACLFilter(principal=principal, host=None, operation=ACLOperation.ANY,
                         permission_type=ACLPermissionType.ANY,
                         resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, None, ACLResourcePatternType.ANY))
listed, error = admin.describe_acls(topic_filter)
names = sorted((a.resource_pattern.resource_name, a.resource_pattern.pattern_type.name, a.operation.name) for a in listed)
print("listed", names)
assert ("invoices-", "PREFIXED", "READ") in names, names
deleted = admin.delete_acls([topic_filter])
matching = [a for (_, acls, err) in deleted for a in acls]
print("deleted", len(matching))
listed, error = admin.describe_acls(topic_filter)
print("after", len(listed))
assert not listed, listed
