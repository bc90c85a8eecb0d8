package coupa

import (
	"fmt"
	"strings"
	"time"
)

// Table describes one Coupa object that coupa-kafka syncs: where to list it,
// which OAuth scope reads it, and which R39 OpenAPI definition shapes it.
// Tables are plain data; nothing registers itself.
type Table struct {
	// Name is the table's name in configuration, topics and cursors
	// ("invoices"). It is also the last segment of its API path.
	Name string
	// Path is the list endpoint below the instance URL ("/api/invoices").
	Path string
	// Scope is the OAuth scope that grants reading the table.
	Scope string
	// OpenAPIFile and Definition locate the object's definition in Coupa's
	// R39 OpenAPI files (copied into internal/openapi/r39).
	OpenAPIFile string
	Definition  string
	// AvroName is the Avro record name of the table's value schema.
	AvroName string
	// Lines names the array of line objects a record carries, if any
	// ("invoice-lines"); empty for tables without lines.
	Lines string
	// LineTopic names the lines' own table and topic ("invoice_lines"):
	// each line of each published version, keyed by the line's id. Empty for
	// tables without lines.
	LineTopic string
	// LineParentKey is the key of the parent's id in each line of LineTopic
	// ("invoice-id"). coupa-kafka adds it (and "parent-updated-at", the
	// version of the parent the line was published with) to the line's
	// JSON, unless Coupa's line already carries it (an expense line's
	// "expense-report-id").
	LineParentKey string
	// LineList is the path of the lines' own list resource, where R39 has
	// one ("/api/purchase_order_lines"): lines there change on their own
	// (a receipt moves a purchase order line's received quantity, and its
	// own updated-at, while the order's does not move). Empty otherwise.
	LineList string
	// LineListParent is the key of the parent's id in a line of LineList
	// ("order-header-id").
	LineListParent string
	// Mode is how the table is read: by updated_at (Incremental, the zero
	// value) or whole, on a schedule (FullRefresh).
	Mode Mode
	// Kind sets the table's default polling: documents change all day,
	// reference data rarely.
	Kind Kind
}

// Mode is how a table's changes are found.
type Mode uint8

const (
	// Incremental reads the records changed since the cursor, by
	// (updated_at, id): what every table with a trustworthy updated-at does.
	Incremental Mode = iota
	// FullRefresh reads every record, in id order, on the table's own
	// schedule, and publishes only those whose content changed since the
	// version last published. It is for resources whose records carry no
	// updated-at (currencies) or one that does not move with every change
	// (budget lines: other connectors exclude them from incremental sync
	// for that reason). A refresh of an unchanged table publishes nothing.
	FullRefresh
)

func (m Mode) String() string {
	if m == FullRefresh {
		return "full refresh"
	}
	return "incremental"
}

// Kind is what a table holds, which decides how often it is polled by
// default (see DefaultPollInterval).
type Kind uint8

const (
	// Document tables hold business transactions (invoices, receipts,
	// payables): they change all day and consumers want changes in seconds.
	Document Kind = iota
	// Reference tables hold set-up data (accounts, lookup values, payment
	// terms): they change a few times a day, so polling them every few
	// seconds would spend the shared budget on empty answers.
	Reference
)

func (k Kind) String() string {
	if k == Reference {
		return "reference"
	}
	return "document"
}

// Default polling ceilings by table (see DefaultPollInterval).
const (
	DocumentPollInterval    = 30 * time.Second
	ReferencePollInterval   = 15 * time.Minute
	FullRefreshPollInterval = time.Hour
)

// DefaultPollInterval is how long the table waits, at most, between passes
// when it finds nothing new (COUPA_POLL_INTERVALS overrides it per table): a
// document table DocumentPollInterval, a reference table
// ReferencePollInterval, and a full refresh FullRefreshPollInterval between
// refreshes, because each one reads the whole table.
func (t Table) DefaultPollInterval() time.Duration {
	switch {
	case t.Mode == FullRefresh:
		return FullRefreshPollInterval
	case t.Kind == Reference:
		return ReferencePollInterval
	}
	return DocumentPollInterval
}

// HasUpdatedAt reports whether every record of the table carries an
// updated-at: all but the full refresh tables whose definition has none.
func (t Table) HasUpdatedAt() bool { return !noUpdatedAt[t.Name] }

// noUpdatedAt are the catalog tables whose R39 definition has no updated-at.
var noUpdatedAt = map[string]bool{"currencies": true, "budget_line_adjustments": true}

// LineListTable is t's line list resource as a table to list: its name is
// the line topic's, its scope the parent's. ok is false when t has none.
func (t Table) LineListTable() (lines Table, ok bool) {
	if t.LineList == "" {
		return Table{}, false
	}
	return Table{Name: t.LineTopic, Path: t.LineList, Scope: t.Scope}, true
}

// DefaultTables are the eight spend documents COUPA_TABLES selects by
// default, in a fixed order (the order of the documentation and of the
// demo's summary). They lead the Catalog.
var DefaultTables = Catalog[:8:8] // capped: appending copies, never overwrites Catalog

// Catalog lists every table coupa-kafka can sync: the eight documents, then
// every other list resource of Coupa's R39 OpenAPI files, by name. Each
// entry is what the files say (path, definition, file) plus what they do not
// (the scope, the Mode, the Kind); TestCatalogCoversR39 checks it against the
// files, and NotTables lists the list resources that are not tables, and why.
var Catalog = []Table{
	{Name: "invoices", Path: "/api/invoices", Scope: "core.invoice.read", OpenAPIFile: "R39_Invoicing_API.json", Definition: "InvoiceHeader", AvroName: "Invoice", Lines: "invoice-lines", LineTopic: "invoice_lines", LineParentKey: "invoice-id"},
	{Name: "purchase_orders", Path: "/api/purchase_orders", Scope: "core.purchase_order.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "OrderHeader", AvroName: "PurchaseOrder", Lines: "order-lines", LineTopic: "purchase_order_lines", LineParentKey: "purchase-order-id",
		LineList: "/api/purchase_order_lines", LineListParent: "order-header-id"},
	{Name: "requisitions", Path: "/api/requisitions", Scope: "core.requisition.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "RequisitionHeader", AvroName: "Requisition", Lines: "requisition-lines", LineTopic: "requisition_lines", LineParentKey: "requisition-id"},
	{Name: "suppliers", Path: "/api/suppliers", Scope: "core.supplier.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Supplier", AvroName: "Supplier"},
	{Name: "contracts", Path: "/api/contracts", Scope: "core.contract.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "Contract", AvroName: "Contract"},
	{Name: "expense_reports", Path: "/api/expense_reports", Scope: "core.expense.read", OpenAPIFile: "R39_Expense_Reporting_API.json", Definition: "ExpenseReport", AvroName: "ExpenseReport", Lines: "expense-lines", LineTopic: "expense_lines", LineParentKey: "expense-report-id",
		LineList: "/api/expense_lines", LineListParent: "expense-report-id"},
	{Name: "users", Path: "/api/users", Scope: "core.user.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "User", AvroName: "User"},
	{Name: "approvals", Path: "/api/approvals", Scope: "core.approval.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Approval", AvroName: "Approval"},

	{Name: "account_groups", Path: "/api/account_groups", Scope: "core.accounting.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "AccountGroup", AvroName: "AccountGroup", Mode: Incremental, Kind: Reference},
	{Name: "account_types", Path: "/api/account_types", Scope: "core.accounting.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "AccountType", AvroName: "AccountType", Mode: Incremental, Kind: Reference},
	{Name: "account_validation_rules", Path: "/api/account_validation_rules", Scope: "core.accounting.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "AccountValidationRule", AvroName: "AccountValidationRule", Mode: Incremental, Kind: Reference},
	{Name: "accounts", Path: "/api/accounts", Scope: "core.accounting.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Account", AvroName: "Account", Mode: Incremental, Kind: Reference},
	{Name: "addresses", Path: "/api/addresses", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Address", AvroName: "Address", Mode: Incremental, Kind: Reference},
	{Name: "announcements", Path: "/api/announcements", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Announcement", AvroName: "Announcement", Mode: Incremental, Kind: Reference},
	{Name: "asn_headers", Path: "/api/asn/headers", Scope: "core.purchase_order.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "Asn-Header", AvroName: "AsnHeader", Mode: Incremental, Kind: Document},
	{Name: "asset_tags", Path: "/api/asset_tags", Scope: "core.inventory.common.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "AssetTag", AvroName: "AssetTag", Mode: Incremental, Kind: Reference},
	{Name: "attachments", Path: "/api/attachments", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Attachment", AvroName: "Attachment", Mode: Incremental, Kind: Document},
	{Name: "budget_line_adjustments", Path: "/api/budget_line_adjustments", Scope: "core.budget.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "BudgetLineAdjustment", AvroName: "BudgetLineAdjustment", Mode: FullRefresh, Kind: Reference},
	{Name: "budget_lines", Path: "/api/budget_lines", Scope: "core.budget.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "BudgetLine", AvroName: "BudgetLine", Mode: FullRefresh, Kind: Reference},
	{Name: "business_entities", Path: "/api/business_entities", Scope: "core.business_entity.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "BusinessEntity", AvroName: "BusinessEntity", Mode: Incremental, Kind: Reference},
	{Name: "business_groups", Path: "/api/business_groups", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "BusinessGroup", AvroName: "BusinessGroup", Mode: Incremental, Kind: Reference},
	{Name: "comments", Path: "/api/comments", Scope: "core.comment.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Comment", AvroName: "Comment", Mode: Incremental, Kind: Document},
	{Name: "commodities", Path: "/api/commodities", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Commodity", AvroName: "Commodity", Mode: Incremental, Kind: Reference},
	{Name: "commodity_translations", Path: "/api/commodity_translations", Scope: "core.object_translations.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "CommodityTranslation", AvroName: "CommodityTranslation", Mode: Incremental, Kind: Reference},
	{Name: "coupa_pay_invoices", Path: "/api/coupa_pay/invoices", Scope: "core.payables.invoice.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "CoupaPay-Invoice", AvroName: "CoupaPayInvoice", Mode: Incremental, Kind: Document},
	{Name: "currencies", Path: "/api/currencies", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Currency", AvroName: "Currency", Mode: FullRefresh, Kind: Reference},
	{Name: "data_file_sources", Path: "/api/data_file_sources", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "DataFileSource", AvroName: "DataFileSource", Mode: Incremental, Kind: Reference},
	{Name: "departments", Path: "/api/departments", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Department", AvroName: "Department", Mode: Incremental, Kind: Reference},
	{Name: "exchange_rates", Path: "/api/exchange_rates", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ExchangeRate", AvroName: "ExchangeRate", Mode: Incremental, Kind: Reference},
	{Name: "expense_artifacts", Path: "/api/expense_artifacts", Scope: "core.expense.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ExpenseArtifact", AvroName: "ExpenseArtifact", Mode: Incremental, Kind: Document},
	{Name: "financial_counterparties", Path: "/api/financial_counterparties", Scope: "core.financial_counterparty.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "FinancialCounterparty", AvroName: "FinancialCounterparty", Mode: Incremental, Kind: Reference},
	{Name: "inspection_codes", Path: "/api/inspection_codes", Scope: "core.inventory.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InspectionCode", AvroName: "InspectionCode", Mode: Incremental, Kind: Reference},
	{Name: "integration_contacts", Path: "/api/integration_contacts", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "IntegrationContact", AvroName: "IntegrationContact", Mode: Incremental, Kind: Reference},
	{Name: "integration_errors", Path: "/api/integration_errors", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "IntegrationError", AvroName: "IntegrationError", Mode: Incremental, Kind: Document},
	{Name: "integration_history_records", Path: "/api/integration_history_records", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "IntegrationHistoryRecord", AvroName: "IntegrationHistoryRecord", Mode: Incremental, Kind: Document},
	{Name: "integration_runs", Path: "/api/integration_runs", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "IntegrationRun", AvroName: "IntegrationRun", Mode: Incremental, Kind: Document},
	{Name: "integrations", Path: "/api/integrations", Scope: "core.integration.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Integration", AvroName: "Integration", Mode: Incremental, Kind: Reference},
	{Name: "inventory", Path: "/api/inventory", Scope: "core.inventory.balance.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryBalance", AvroName: "InventoryBalance", Mode: Incremental, Kind: Document},
	{Name: "inventory_adjustments", Path: "/api/inventory_adjustments", Scope: "core.inventory.adjustment.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryTransaction", AvroName: "InventoryAdjustment", Mode: Incremental, Kind: Document},
	{Name: "inventory_consumptions", Path: "/api/inventory_consumptions", Scope: "core.inventory.consumption.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryTransaction", AvroName: "InventoryConsumption", Mode: Incremental, Kind: Document},
	{Name: "inventory_transactions", Path: "/api/inventory_transactions", Scope: "core.inventory.common.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "InventoryTransaction", AvroName: "InventoryTransaction", Mode: Incremental, Kind: Document},
	{Name: "inventory_transfers", Path: "/api/inventory_transfers", Scope: "core.inventory.transfer.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryTransaction", AvroName: "InventoryTransfer", Mode: Incremental, Kind: Document},
	{Name: "invoice_emails", Path: "/api/invoice_emails", Scope: "core.invoice.read", OpenAPIFile: "R39_Invoicing_API.json", Definition: "InvoiceEmail", AvroName: "InvoiceEmail", Mode: Incremental, Kind: Document},
	{Name: "items", Path: "/api/items", Scope: "core.catalog.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Item", AvroName: "Item", Mode: Incremental, Kind: Reference},
	{Name: "legal_entities", Path: "/api/legal_entities", Scope: "core.legal_entity.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "LegalEntity", AvroName: "LegalEntity", Mode: Incremental, Kind: Reference},
	{Name: "lookup_values", Path: "/api/lookup_values", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "LookupValue", AvroName: "LookupValue", Mode: Incremental, Kind: Reference},
	{Name: "lookups", Path: "/api/lookups", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Lookup", AvroName: "Lookup", Mode: Incremental, Kind: Reference},
	{Name: "order_pads", Path: "/api/order_pads", Scope: "core.catalog.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "OrderPad", AvroName: "OrderPad", Mode: Incremental, Kind: Reference},
	{Name: "payables_allocations", Path: "/api/payables/allocations", Scope: "core.payables.allocations.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Payables-Allocation", AvroName: "PayablesAllocation", Mode: Incremental, Kind: Document},
	{Name: "payables_external_payables", Path: "/api/payables/external/payables", Scope: "core.payables.external.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Payables-External-Payable", AvroName: "PayablesExternalPayable", Mode: Incremental, Kind: Document},
	{Name: "payables_invoices", Path: "/api/payables/invoices", Scope: "core.payables.invoice.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Payables-Invoice", AvroName: "PayablesInvoice", Mode: Incremental, Kind: Document},
	{Name: "payables_order_reconciliation_lines", Path: "/api/payables/order/reconciliation_lines", Scope: "core.payables.invoice.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "Payables-Order-ReconciliationLine", AvroName: "PayablesOrderReconciliationLine", Mode: Incremental, Kind: Document},
	{Name: "payables_orders", Path: "/api/payables/orders", Scope: "core.payables.invoice.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "Payables-Order", AvroName: "PayablesOrder", Mode: Incremental, Kind: Document},
	{Name: "payment_terms", Path: "/api/payment_terms", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "PaymentTerm", AvroName: "PaymentTerm", Mode: Incremental, Kind: Reference},
	{Name: "project_memberships", Path: "/api/project_memberships", Scope: "core.project.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ProjectMembership", AvroName: "ProjectMembership", Mode: Incremental, Kind: Reference},
	{Name: "projects", Path: "/api/projects", Scope: "core.project.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Project", AvroName: "Project", Mode: Incremental, Kind: Reference},
	{Name: "purchase_order_changes", Path: "/api/purchase_order_changes", Scope: "core.purchase_order.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "OrderHeaderChange", AvroName: "OrderHeaderChange", Mode: Incremental, Kind: Document},
	{Name: "receipt_requests", Path: "/api/receipt_requests", Scope: "core.inventory.receiving.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ReceiptRequest", AvroName: "ReceiptRequest", Mode: Incremental, Kind: Document},
	{Name: "receiving_transactions", Path: "/api/receiving_transactions", Scope: "core.inventory.receiving.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryTransaction", AvroName: "ReceivingTransaction", Mode: Incremental, Kind: Document},
	{Name: "return_requests", Path: "/api/return_requests", Scope: "core.inventory.return_to_supplier.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ReturnRequest", AvroName: "ReturnRequest", Mode: Incremental, Kind: Document},
	{Name: "return_to_supplier_transactions", Path: "/api/return_to_supplier_transactions", Scope: "core.inventory.return_to_supplier.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "InventoryTransaction", AvroName: "ReturnToSupplierTransaction", Mode: Incremental, Kind: Document},
	{Name: "shipping_terms", Path: "/api/shipping_terms", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "ShippingTerm", AvroName: "ShippingTerm", Mode: Incremental, Kind: Reference},
	{Name: "supplier_information", Path: "/api/supplier_information", Scope: "core.supplier.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "SupplierInformation", AvroName: "SupplierInformation", Mode: Incremental, Kind: Reference},
	{Name: "supplier_information_sites", Path: "/api/supplier_information_sites", Scope: "core.supplier_information_sites.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "SupplierInformationSite", AvroName: "SupplierInformationSite", Mode: Incremental, Kind: Reference},
	{Name: "supplier_items", Path: "/api/supplier_items", Scope: "core.catalog.read", OpenAPIFile: "R39_Purchasing_API.json", Definition: "SupplierItem", AvroName: "SupplierItem", Mode: Incremental, Kind: Reference},
	{Name: "supplier_sharing_settings", Path: "/api/supplier_sharing_settings", Scope: "core.supplier_sharing_settings.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "SupplierSharingSetting", AvroName: "SupplierSharingSetting", Mode: Incremental, Kind: Reference},
	{Name: "supplier_sites", Path: "/api/supplier_sites", Scope: "core.supplier.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "SupplierSite", AvroName: "SupplierSite", Mode: Incremental, Kind: Reference},
	{Name: "tasks", Path: "/api/tasks", Scope: "core.project.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Task", AvroName: "Task", Mode: Incremental, Kind: Document},
	{Name: "tax_registrations", Path: "/api/tax_registrations", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "TaxRegistration", AvroName: "TaxRegistration", Mode: Incremental, Kind: Reference},
	{Name: "uoms", Path: "/api/uoms", Scope: "core.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Uom", AvroName: "Uom", Mode: Incremental, Kind: Reference},
	{Name: "user_group_memberships", Path: "/api/user_group_memberships", Scope: "core.user_group.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "UserGroupMembership", AvroName: "UserGroupMembership", Mode: Incremental, Kind: Reference},
	{Name: "user_groups", Path: "/api/user_groups", Scope: "core.user_group.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "UserGroup", AvroName: "UserGroup", Mode: Incremental, Kind: Reference},
	{Name: "warehouses", Path: "/api/warehouses", Scope: "core.inventory.common.read", OpenAPIFile: "R39_Core_Platform_API.json", Definition: "Warehouse", AvroName: "Warehouse", Mode: Incremental, Kind: Reference},
}

// NotTable is an R39 list resource that is not a table, and why.
type NotTable struct {
	Path   string // "/api/requisitions/mine"
	Reason string
}

// NotTables are the R39 GET list resources that coupa-kafka does not sync as
// tables: views of the calling user, searches, subsets of another resource,
// and the two line lists, whose lines reach their parents' line topics.
var NotTables = []NotTable{
	{"/api/accounts/favorites", "the calling user's favourite accounts: a view, not a table"},
	{"/api/accounts/recent", "the calling user's recent accounts: a view, not a table"},
	{"/api/accounts/user_accounts", "the accounts the calling user may charge: a view of accounts"},
	{"/api/approvals/approver_search", "a search for approvers, not a table"},
	{"/api/expense_lines", "expense lines: published to expense_lines, the line topic of expense_reports"},
	{"/api/expense_lines/expense_artifacts", "the receipts of expense lines: a subset of expense_artifacts"},
	{"/api/lookup_values/user_lookup_values", "the lookup values the calling user may pick: a view of lookup_values"},
	{"/api/payables/invoices/available_allocations", "allocations an invoice payable could take: a view, not a table"},
	{"/api/purchase_order_lines", "purchase order lines: published to purchase_order_lines, the line topic of purchase_orders"},
	{"/api/receivable_purchase_order_lines", "the purchase order lines that can still be received: a subset of purchase_order_lines"},
	{"/api/requisitions/current_cart", "the calling user's cart: a view of requisitions"},
	{"/api/requisitions/mine", "the calling user's requisitions: a view of requisitions"},
	{"/api/supplier_items/catalog_item_info", "catalog details of supplier items: a view, not a table"},
	{"/api/supplier_items/catalog_items", "supplier items as catalog items: a view of supplier_items"},
	{"/api/supplier_items/search", "a search of supplier items, not a table"},
}

// LookupTable returns the catalog table with the given name. For a line
// topic's name it says which table publishes it.
func LookupTable(name string) (Table, error) {
	for _, t := range Catalog {
		if t.Name == name {
			return t, nil
		}
	}
	for _, t := range Catalog {
		if t.LineTopic == name {
			return Table{}, fmt.Errorf("%q is the line topic of table %s, not a table: select %s", name, t.Name, t.Name)
		}
	}
	return Table{}, fmt.Errorf("unknown table %q (see 'coupa-kafka tables' for the catalog)", name)
}

// TableNames returns the names of the default tables, comma separated.
func TableNames() string {
	names := make([]string, len(DefaultTables))
	for i, t := range DefaultTables {
		names[i] = t.Name
	}
	return strings.Join(names, ",")
}
