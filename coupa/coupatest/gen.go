package coupatest

import (
	"hash/fnv"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Every generated value is a pure function of a 64-bit hash of (seed, field,
// record id, version), so any single field can be computed without rendering
// the rest of the record (the slow filter path) and the same version always
// renders the same bytes.

// mix is SplitMix64's finaliser: cheap and well distributed.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// saltOf hashes a name (a definition/key pair) into a field salt.
func saltOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func pick(pool []string, h uint64) string { return pool[h%uint64(len(pool))] }

// The pools hold unescaped text; a few entries need JSON escaping or are not
// ASCII on purpose, so consumers meet quotes, ampersands and CJK text.
var (
	companyPool = []string{
		"Acme Corp", "Globex Corporation", "Initech LLC", "Umbrella Supplies",
		"Stark Industries", "Wayne Enterprises", "Müller & Söhne GmbH",
		`O'Brien "Quick" Logistics`, "東京商事株式会社", "Soylent Foods",
		"Hooli", "Vandelay Industries", "Cyberdyne Systems", "Tyrell Corp",
		"Wonka Industries", "Oceanic Airlines", "Bluth Company", "Prestige Worldwide",
	}
	firstPool = []string{"Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "José", "Kai", "Lena", "Mohammed", "Nora", "Olu", "Priya"}
	lastPool  = []string{"Smith", "García", "Nguyen", "Okafor", "Müller", "Rossi", "Kowalski", "Tanaka", "O'Neil", "Dubois", "Silva", "Johansson", "Patel", "Cohen"}
	wordPool  = []string{
		"office", "supplies", "consulting", "hardware", "license", "renewal", "freight",
		"quarterly", "services", "catering", "travel", "laptop", "maintenance", "annual",
		"subscription", "marketing", "legal", "facilities", "cloud", "training",
	}
	currencyCodes = []string{"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR"}
	currencyNames = []string{"US Dollar", "Euro", "Pound Sterling", "Yen", "Canadian Dollar", "Australian Dollar", "Swiss Franc", "Indian Rupee"}
	currencySyms  = []string{"$", "€", "£", "¥", "$", "$", "CHF", "₹"}
	countryCodes  = []string{"US", "DE", "GB", "FR", "JP", "CA", "AU", "CH", "IN", "BR", "MX", "NL"}
	countryNames  = []string{"United States", "Germany", "United Kingdom", "France", "Japan", "Canada", "Australia", "Switzerland", "India", "Brazil", "Mexico", "Netherlands"}
	cityPool      = []string{"San Mateo", "Berlin", "London", "Paris", "Tokyo", "Toronto", "Sydney", "Zürich", "Mumbai", "São Paulo"}
	streetPool    = []string{"1 Main St", "221B Baker Street", "Unter den Linden 5", "42 Wallaby Way", "10 Downing St", "3-1 Marunouchi"}

	// statusPools give definitions whose status has no enum in the OpenAPI
	// the values Coupa actually uses.
	statusPools = map[string][]string{
		"Supplier":      {"active", "inactive", "draft"},
		"ExpenseReport": {"draft", "pending_approval", "approved", "paid", "rejected"},
		"Approval":      {"pending_approval", "approved", "rejected", "skipped", "pending"},
		"Contract":      {"draft", "pending_approval", "published", "expired", "completed"},
		"InvoiceLine":   {"approved", "draft", "pending_approval", "voided"},
		"OrderLine":     {"created", "received", "soft_closed", "closed"},
	}
	defaultStatus = []string{"active", "inactive"}
)

// tableDefs maps a definition name to the catalog table that holds such
// objects, so associations point at ids that exist and their natural keys
// (a supplier's name) equal what the target table renders for the same id.
// A definition several tables share (InventoryTransaction) maps to none:
// an association to one cannot say which table it is in.
var tableDefs = defTables()

func defTables() map[string]string {
	out := map[string]string{"UserSimple": "users"} // the nested form of User
	shared := map[string]bool{}
	for _, t := range coupa.Catalog {
		if _, dup := out[t.Definition]; dup {
			shared[t.Definition] = true
		}
		out[t.Definition] = t.Name
	}
	for d := range shared {
		delete(out, d)
	}
	return out
}

// namespace is the salt namespace of a definition: UserSimple is the nested
// form of User, so both must generate the same login and email for an id.
func namespace(def string) string {
	if def == "UserSimple" {
		return "User"
	}
	return def
}

// idPrefix gives the natural numbers of the synced objects their familiar
// shape ("INV-10042"); they derive from the id so they never collide.
var idPrefix = map[string]string{
	"InvoiceHeader/invoice-number": "INV-",
	"OrderHeader/po-number":        "",
	"Supplier/number":              "SUP-",
	"Contract/number":              "CTR-",
}

// smallRefCounts bounds the ids of reference data so a handful of currencies
// or countries recur, as on a real instance. Where the definition is a
// catalog table (currencies, payment_terms, ...) associations point at the
// table's first ids, so they exist there too.
var smallRefCounts = map[string]int{
	"Currency": len(currencyCodes), "Country": len(countryCodes), "PaymentTerm": 6,
	"ShippingTerm": 5, "Department": 40, "AccountType": 4, "TaxCode": 12, "Uom": 10,
}

// appendCurrency appends the code, name or symbol (k) of the currency with
// id: ids 1..8 are the pool's real currencies (USD is 1), the ones that
// records' associations point at; later ids get unique made-up codes
// ("XAK"), so a currencies table of any size (up to 684) never repeats one.
func appendCurrency(dst []byte, k strKind, id int64) []byte {
	if i := id - 1; i >= 0 && i < int64(len(currencyCodes)) {
		switch k {
		case sCurrencyName:
			return append(dst, currencyNames[i]...)
		case sCurrencySymbol:
			return append(dst, currencySyms[i]...)
		}
		return append(dst, currencyCodes[i]...)
	}
	switch k {
	case sCurrencyName:
		dst = append(dst, "Currency "...)
	case sCurrencySymbol:
		return append(dst, "¤"...)
	}
	n := uint64(id) % 676
	return append(dst, 'X', byte('A'+n/26), byte('A'+n%26))
}
