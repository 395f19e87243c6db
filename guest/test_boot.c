/* iovirt.test=boot: the guest got here, so boot worked; list the PCI bus. */
#include "guest/pci.h"
#include "guest/results.h"
#include "guest/tests.h"

enum guest_status test_boot_run(const struct guest_test_env *env)
{
	(void)env;
	struct pci_scan scan;
	pci_scan_bus0(&scan);
	guest_results.pci_functions = scan.count;
	results_set_message("booted; %u PCI functions on bus 0", scan.count);
	return GUEST_STATUS_PASS;
}
