// SPDX-License-Identifier: MIT
/* Decisions as JSON: include/baton/json.h. */
#include <baton/json.h>
#include <baton/schema.h>

json_object *baton_decisions_json(const struct baton_decision *d, size_t n)
{
	json_object *arr = json_object_new_array();
	char addr[BATON_PCI_ADDR_STRLEN], guid[BATON_CONTRACT_GUID_STRLEN];

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "address", json_object_new_string(
			baton_pci_addr_format(&d[i].device->addr, addr)));
		json_object_object_add(o, "action", json_object_new_string(
			baton_action_name(d[i].action)));
		json_object_object_add(o, "driver", d[i].driver ?
			json_object_new_string(d[i].driver->name) : NULL);
		json_object_object_add(o, "schema", json_object_new_string(
			baton_guid_format(d[i].device->schema, guid)));
		json_object_object_add(o, "mandatory",
			json_object_new_boolean(d[i].device->mandatory));
		json_object_object_add(o, "reason", json_object_new_string(d[i].reason));
		json_object_array_add(arr, o);
	}
	return arr;
}
