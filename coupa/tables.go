package coupa

import "fmt"

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
}

// LineListTable is t's line list resource as a table to list: its name is
// the line topic's, its scope the parent's. ok is false when t has none.
func (t Table) LineListTable() (lines Table, ok bool) {
	if t.LineList == "" {
		return Table{}, false
	}
	return Table{Name: t.LineTopic, Path: t.LineList, Scope: t.Scope}, true
}

// Tables lists the eight synced tables in a fixed order (the order of the
// documentation and of the demo's summary).
var Tables = []Table{
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
}

// LookupTable returns the table with the given name.
func LookupTable(name string) (Table, error) {
	for _, t := range Tables {
		if t.Name == name {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("unknown table %q (known: %s)", name, TableNames())
}

// TableNames returns the names of all tables, comma separated.
func TableNames() string {
	s := ""
	for i, t := range Tables {
		if i > 0 {
			s += ","
		}
		s += t.Name
	}
	return s
}
