package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard"
)

// The demo data is generated in blocks. Block 0 is the hand-written demo (the
// admin, the three project owners, their staff and customers, 2,000 orders);
// every further block adds seedUsersPerBlock users and seedOrdersPerBlock
// orders, and every seedProjectEvery-th block one project. A block's rows depend
// only on the blocks before it, never on the requested scale, so seeding scale
// 10 and then topping up to 100 writes the same rows as seeding 100 at once.
const (
	seedOrdersPerBlock = 2000
	seedUsersPerBlock  = 50
	seedProjectEvery   = 10
	// seedVersion names the generator in every derived id and random stream.
	// Changing what a block generates means changing it, so an old database is
	// recognised as "seeded by something else" instead of topped up
	// inconsistently.
	seedVersion = "switchyard-seed-v1"
	// seedAdminAge is how long before the anchor the admin account was created.
	// A top-up reads the anchor back from that row (see loadSeedState).
	seedAdminAge = 400 * 24 * time.Hour
	// seedOrderWindow is the span before the anchor that orders fall in.
	seedOrderWindow = 365 * 24 * time.Hour
)

// seedRand is a SplitMix64 stream. The generator is spelled out here rather
// than taken from math/rand so that the demo data cannot change with the Go
// release the binary is built with: two machines get the same rows. It never
// produces floats; weights and durations are integers.
type seedRand struct{ s uint64 }

func newSeedRand(stream string, block int) *seedRand {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/rand/%s/%d", seedVersion, stream, block))
	var s uint64
	for _, b := range h[:8] {
		s = s<<8 | uint64(b)
	}
	return &seedRand{s: s}
}

func (r *seedRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n); n must be positive.
func (r *seedRand) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// between returns a number in [lo, hi].
func (r *seedRand) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// duration returns a whole number of seconds in [lo, hi].
func (r *seedRand) duration(lo, hi time.Duration) time.Duration {
	return time.Duration(r.between(int(lo/time.Second), int(hi/time.Second))) * time.Second
}

// chance reports true with probability percent/100.
func (r *seedRand) chance(percent int) bool { return r.intn(100) < percent }

// weighted returns an index into weights with probability proportional to its
// weight.
func (r *seedRand) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (r *seedRand) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.intn(10))
	}
	return string(b)
}

func (r *seedRand) letters(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.intn(len(alphabet))]
	}
	return string(b)
}

// seedID derives a row's id from what the row is, so every run and every
// machine names the same row alike and a later run can tell which blocks exist.
// The ids are UUIDv8 (custom, hash-based): they reveal nothing about volume.
func seedID(kind string, block, index int) [16]byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/id/%s/%d/%d", seedVersion, kind, block, index))
	var id [16]byte
	copy(id[:], h[:16])
	id[6] = id[6]&0x0f | 0x80
	id[8] = id[8]&0x3f | 0x80
	return id
}

// seedOrderMarker is the id of a block's first order; the block exists exactly
// when it does, because a block is written in one transaction.
func seedOrderMarker(block int) [16]byte { return seedID("order", block, 0) }

func seedAdminID() [16]byte { return seedID("user", 0, 0) }

type seedUser struct {
	id      [16]byte
	email   string
	name    string
	avatar  string
	role    switchyard.Role
	created time.Time
	// note says what the account is for in the printed list of demo logins.
	note string
}

type seedProject struct {
	id          [16]byte
	name        string
	description string
	owner       int // index into seedWorld.users
	created     time.Time
	catalogue   []seedProduct
	currencies  []string
	currencyW   []int
	weight      int
}

type seedMember struct {
	project int
	user    int
	added   time.Time
	block   int
}

type seedProduct struct {
	sku  string
	name string
	usd  int64 // cents
}

type seedItem struct {
	sku  string
	name string
	qty  int64
	unit int64 // minor units of the order's currency
	line int64
}

type seedChange struct {
	from  switchyard.OrderStatus // "" for the creation
	to    switchyard.OrderStatus
	note  string
	actor int // index into seedWorld.users, -1 for the system
	at    time.Time
}

type seedShipment struct {
	carrier  string
	tracking string
	eta      time.Time
}

type seedOrder struct {
	id       [16]byte
	number   int64
	project  int
	customer int
	status   switchyard.OrderStatus
	currency string
	scale    int
	total    int64
	shipment *seedShipment
	created  time.Time
	updated  time.Time
	items    []seedItem
	history  []seedChange
}

// seedWorld is everything but the orders for blocks [0, blocks): users,
// projects and memberships, small enough to build whole on every run.
type seedWorld struct {
	anchor   time.Time
	blocks   int
	users    []seedUser
	projects []seedProject
	members  []seedMember
	// projectBlock[i] is the block that created project i.
	projectBlock []int
	// staff[p] lists the members of project p with the block they joined in,
	// in joining order; the owner comes first.
	staff [][]seedStaff
}

type seedStaff struct {
	user  int
	block int
}

// blockUsers returns the index range of block's users.
func blockUsers(block int) (lo, hi int) {
	return block * seedUsersPerBlock, (block + 1) * seedUsersPerBlock
}

// projectsIn returns how many projects exist once block has been written.
func projectsIn(block int) int { return 3 + block/seedProjectEvery }

var seedFirstNames = []string{
	"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah",
	"Isabella", "Mateo", "Mia", "Lucas", "Charlotte", "Levi", "Harper", "Ethan",
	"Aisha", "Kenji", "Priya", "Diego", "Fatima", "Hiroshi", "Ingrid", "Jamal",
	"Keiko", "Lars", "Mei", "Nikolai", "Omar", "Paola", "Quinn", "Rosa",
	"Sanjay", "Tomás", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe",
	"Grace", "Henry", "Chloe", "Samuel", "Nora", "Daniel", "Hannah", "Leo",
	"Lucia", "Marco", "Sofia", "Arjun", "Elena", "Jonas", "Camila", "Felix",
}

var seedLastNames = []string{
	"Garcia", "Smith", "Kim", "Müller", "Rossi", "Tanaka", "Nguyen", "Patel",
	"Johnson", "Brown", "Williams", "Jones", "Martinez", "Lopez", "Wilson",
	"Anderson", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson",
	"White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "Allen",
	"Suzuki", "Sato", "Dubois", "Lefebvre", "Schmidt", "Fischer", "Novak",
	"Kowalski", "Silva", "Santos", "Okafor", "Mensah", "Haddad", "Cohen",
	"O'Connor", "Murphy", "Kelly", "Andersson", "Nielsen", "Larsen", "Costa",
	"Romero", "Ivanova", "Chen", "Wang", "Singh", "Khan", "Ali", "Reyes",
}

// seedEmailLocal turns a name into the local part of an email address:
// lower case ASCII letters separated by dots.
func seedEmailLocal(first, last string) string {
	fold := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u", "ö", "o", "ä", "a", "'", "")
	return strings.ToLower(fold.Replace(first) + "." + fold.Replace(last))
}

// seedAvatar is a Gravatar URL; identicons make the web app's lists
// recognisable without shipping images.
func seedAvatar(email string) string {
	h := sha256.Sum256([]byte(email))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(h[:]) + "?d=identicon"
}

var seedCatalogues = [][]seedProduct{
	{ // outdoor apparel and gear
		{"JKT-RAIN", "Stormline Rain Jacket", 12999},
		{"JKT-DOWN", "Ridgeway Down Jacket", 18999},
		{"FLC-HALF", "Trailhead Half-Zip Fleece", 6999},
		{"BOOT-HIKE", "Switchback Hiking Boots", 15999},
		{"SOCK-MER3", "Merino Hiking Socks (3-pack)", 2499},
		{"PACK-28L", "Summit 28L Daypack", 8999},
		{"TENT-2P", "Basecamp 2-Person Tent", 24999},
		{"BAG-20F", "Alpine 20°F Sleeping Bag", 17999},
		{"BTL-1L", "Insulated Trail Bottle 1 L", 2999},
		{"HAT-SUN", "Wide-Brim Sun Hat", 3299},
		{"GLV-WOOL", "Wool Liner Gloves", 2299},
		{"LAMP-300", "Headlamp 300 Lumen", 3999},
	},
	{ // hardware
		{"DRL-20V", "20V Cordless Drill/Driver", 9999},
		{"HAM-16", "16 oz Claw Hammer", 1999},
		{"SCR-SET32", "Precision Screwdriver Set (32-piece)", 2999},
		{"TAPE-25", "25 ft Tape Measure", 1499},
		{"LVL-24", "24 in Aluminum Level", 2499},
		{"WR-ADJ10", "10 in Adjustable Wrench", 1799},
		{"SAW-CIRC", "7-1/4 in Circular Saw", 12999},
		{"BIT-100", "Drill Bit Set (100-piece)", 3499},
		{"GLUE-WOOD", "Wood Glue 16 oz", 799},
		{"SCRW-500", "Wood Screws #8 x 1-1/4 in (500)", 1299},
		{"LDR-6FT", "6 ft Step Ladder", 8999},
		{"GLV-WORK", "Leather Work Gloves", 1599},
	},
	{ // coffee
		{"BEAN-HOUSE", "House Blend Whole Bean 340 g", 1699},
		{"BEAN-ETH", "Ethiopia Yirgacheffe 340 g", 2199},
		{"BEAN-COL", "Colombia Huila 340 g", 1999},
		{"BEAN-DECAF", "Swiss Water Decaf 340 g", 1899},
		{"ESP-1KG", "Harbor Espresso Roast 1 kg", 4299},
		{"MUG-CER", "Ceramic Mug 350 ml", 1499},
		{"PRESS-1L", "French Press 1 L", 3999},
		{"GRND-BURR", "Conical Burr Grinder", 12999},
		{"KTL-GOOSE", "Gooseneck Kettle", 5999},
		{"FLT-100", "Paper Filters (100)", 699},
		{"SUB-MONTH", "Monthly Coffee Subscription", 2899},
		{"GIFT-SET", "Tasting Gift Set", 4999},
	},
}

// seedMoreProjects name the projects that larger scales add, one list per
// catalogue.
var seedMoreProjects = [][]string{
	{"Granite Peak Gear", "Cedar Trail Supply", "Riverbend Outfitters", "Fjord & Fell"},
	{"Ironwood Tools", "Keystone Supply Co.", "Plumb & Level", "Copperline Fasteners"},
	{"Copper Kettle Roasters", "Morning Tide Coffee", "Lighthouse Beans", "Second Wave Cafe"},
}

var seedDescriptions = []string{
	"Outdoor apparel and camping gear, sold online to North America, Europe, the UK and Japan.",
	"Tools and hardware for trade customers and weekend builders.",
	"Specialty coffee roaster: fresh beans, brewing gear and subscriptions.",
}

// seedPrice converts a catalogue price in US cents to the minor units of
// currency with integer arithmetic, ending the way shops price things.
func seedPrice(usdCents int64, currency string) int64 {
	charm := func(c int64) int64 { return max((c+50)/100*100-1, 99) }
	switch currency {
	case "EUR":
		return charm(usdCents * 92 / 100)
	case "GBP":
		return charm(usdCents * 79 / 100)
	case "JPY":
		return (usdCents*150/100 + 5) / 10 * 10
	default:
		return usdCents
	}
}

// seedAmount formats minor units as a decimal with the currency's scale, so
// "12.50" stays "12.50" and yen have no fraction.
func seedAmount(minor int64, scale int) string {
	if scale == 0 {
		return fmt.Sprint(minor)
	}
	p := int64(1)
	for range scale {
		p *= 10
	}
	return fmt.Sprintf("%d.%0*d", minor/p, scale, minor%p)
}

// buildSeedWorld generates the users, projects and memberships of blocks
// [0, blocks) for data anchored at anchor (the end of the order window).
func buildSeedWorld(anchor time.Time, blocks int) *seedWorld {
	w := &seedWorld{anchor: anchor, blocks: blocks}
	w.users = make([]seedUser, 0, blocks*seedUsersPerBlock)
	for b := range blocks {
		if b == 0 {
			w.buildBaseBlock()
		} else {
			w.buildBlock(b)
		}
	}
	return w
}

func (w *seedWorld) addUser(block int, first, last, email string, role switchyard.Role, created time.Time, note string) int {
	i := len(w.users)
	w.users = append(w.users, seedUser{
		id:      seedID("user", block, i-block*seedUsersPerBlock),
		email:   email,
		name:    first + " " + last,
		avatar:  seedAvatar(email),
		role:    role,
		created: created,
		note:    note,
	})
	return i
}

func (w *seedWorld) addProject(block int, name, description string, owner int, created time.Time, catalogue int, skuPrefix string, currencies []string, currencyW []int, weight int) int {
	p := len(w.projects)
	cat := make([]seedProduct, len(seedCatalogues[catalogue]))
	for i, pr := range seedCatalogues[catalogue] {
		cat[i] = seedProduct{sku: skuPrefix + "-" + pr.sku, name: pr.name, usd: pr.usd}
	}
	w.projects = append(w.projects, seedProject{
		id: seedID("project", block, p), name: name, description: description, owner: owner,
		created: created, catalogue: cat, currencies: currencies, currencyW: currencyW, weight: weight,
	})
	w.projectBlock = append(w.projectBlock, block)
	w.staff = append(w.staff, []seedStaff{{user: owner, block: block}})
	return p
}

func (w *seedWorld) addMember(block, project, user int, added time.Time) {
	w.members = append(w.members, seedMember{project: project, user: user, added: added, block: block})
	w.staff[project] = append(w.staff[project], seedStaff{user: user, block: block})
}

// buildBaseBlock writes block 0: the people and shops the README's examples
// name.
func (w *seedWorld) buildBaseBlock() {
	r := newSeedRand("users", 0)
	start := w.anchor.Add(-seedAdminAge)
	at := func(days int) time.Time {
		return start.Add(time.Duration(days)*24*time.Hour + r.duration(0, 10*time.Hour))
	}
	w.addUser(0, "Jordan", "Lee", "admin@example.com", switchyard.RoleAdmin, start, "ADMIN: sees and changes everything")
	// The admin's created_at must stay exactly start: it records the anchor.
	alice := w.addUser(0, "Alice", "Johnson", "alice@example.com", switchyard.RoleMember, at(2), "owner of Northwind Outfitters")
	bob := w.addUser(0, "Bob", "Smith", "bob@example.com", switchyard.RoleMember, at(3), "owner of Acme Hardware")
	carol := w.addUser(0, "Carol", "Nguyen", "carol@example.com", switchyard.RoleMember, at(4), "owner of Blue Harbor Coffee")
	dave := w.addUser(0, "Dave", "Patel", "dave@example.com", switchyard.RoleMember, at(8), "member of Northwind Outfitters and Acme Hardware")
	erin := w.addUser(0, "Erin", "O'Brien", "erin@example.com", switchyard.RoleMember, at(9), "member of Blue Harbor Coffee")

	taken := map[string]bool{}
	name := func() (string, string, string) {
		for {
			f, l := seedFirstNames[r.intn(len(seedFirstNames))], seedLastNames[r.intn(len(seedLastNames))]
			local := seedEmailLocal(f, l)
			if !taken[local] {
				taken[local] = true
				return f, l, local + "@example.com"
			}
		}
	}
	var staff []int
	for range 8 {
		f, l, email := name()
		staff = append(staff, w.addUser(0, f, l, email, switchyard.RoleMember, at(10+r.intn(20)), ""))
	}
	w.addUser(0, "Frank", "Miller", "frank@example.com", switchyard.RoleMember, at(12), "customer: sees only his own orders")
	for range seedUsersPerBlock - len(w.users) {
		f, l, email := name()
		w.addUser(0, f, l, email, switchyard.RoleMember, at(seedSignupDay(r)), "")
	}

	nw := w.addProject(0, "Northwind Outfitters", seedDescriptions[0], alice, at(5), 0, "NW",
		[]string{"USD", "EUR", "GBP", "JPY"}, []int{55, 20, 15, 10}, 45)
	acme := w.addProject(0, "Acme Hardware", seedDescriptions[1], bob, at(6), 1, "AC",
		[]string{"USD", "GBP", "EUR"}, []int{75, 15, 10}, 35)
	bh := w.addProject(0, "Blue Harbor Coffee", seedDescriptions[2], carol, at(7), 2, "BH",
		[]string{"USD", "JPY", "EUR", "GBP"}, []int{45, 25, 20, 10}, 20)

	w.addMember(0, nw, dave, at(11))
	w.addMember(0, acme, dave, at(11))
	w.addMember(0, bh, erin, at(12))
	for i, u := range staff {
		added := w.users[u].created.Add(r.duration(time.Hour, 72*time.Hour))
		w.addMember(0, []int{nw, acme, bh}[i%3], u, added)
		if i == 0 {
			// One person works for two shops, as in real life someone does.
			w.addMember(0, bh, u, added.Add(24*time.Hour))
		}
	}
}

// seedSignupDay is the day after the admin's that a customer signs up: most
// before the orders' year begins, the rest during it, so that every month has
// orders and the user list still grows.
func seedSignupDay(r *seedRand) int {
	if r.chance(60) {
		return r.between(15, 34)
	}
	return r.between(35, 380)
}

// buildBlock writes block b > 0: three staff members who join existing
// projects (or start a new one) and customers.
func (w *seedWorld) buildBlock(b int) {
	r := newSeedRand("users", b)
	lo, _ := blockUsers(b)
	start := w.anchor.Add(-seedAdminAge)
	person := func(i int) (string, string, string) {
		f, l := seedFirstNames[r.intn(len(seedFirstNames))], seedLastNames[r.intn(len(seedLastNames))]
		return f, l, fmt.Sprintf("%s.%d@example.com", seedEmailLocal(f, l), lo+i)
	}
	var staff []int
	for i := range 3 {
		f, l, email := person(i)
		created := start.Add(r.duration(24*time.Hour, 25*24*time.Hour))
		staff = append(staff, w.addUser(b, f, l, email, switchyard.RoleMember, created, ""))
	}
	for i := 3; i < seedUsersPerBlock; i++ {
		f, l, email := person(i)
		created := start.Add(time.Duration(seedSignupDay(r))*24*time.Hour + r.duration(0, 10*time.Hour))
		w.addUser(b, f, l, email, switchyard.RoleMember, created, "")
	}
	joined := func(u int) time.Time { return w.users[u].created.Add(r.duration(time.Hour, 48*time.Hour)) }
	if b%seedProjectEvery == 0 {
		n := len(w.projects)
		cat := n % len(seedCatalogues)
		names := seedMoreProjects[cat]
		name := names[(n/len(seedCatalogues)-1)%len(names)]
		if round := (n/len(seedCatalogues) - 1) / len(names); round > 0 {
			name = fmt.Sprintf("%s %d", name, round+1)
		}
		p := w.addProject(b, name, seedDescriptions[cat], staff[0], joined(staff[0]), cat, fmt.Sprintf("P%02d", n),
			[]string{"USD", "EUR", "GBP", "JPY"}, []int{50, 25, 15, 10}, 20)
		w.addMember(b, p, staff[1], joined(staff[1]))
		w.addMember(b, p, staff[2], joined(staff[2]))
		return
	}
	n := len(w.projects)
	first := r.intn(n)
	w.addMember(b, first, staff[0], joined(staff[0]))
	w.addMember(b, (first+1)%n, staff[1], joined(staff[1]))
	w.addMember(b, (first+2)%n, staff[2], joined(staff[2]))
}

// buildOrders generates block b's orders. It reads only what blocks [0, b]
// created, so a block's orders do not depend on the scale being seeded.
// Numbers are assigned by the caller.
func (w *seedWorld) buildOrders(b int) []seedOrder {
	r := newSeedRand("orders", b)
	np := projectsIn(b)
	weights := make([]int, np)
	staff := make([][]int, np)
	for p := range np {
		weights[p] = w.projects[p].weight
		for _, s := range w.staff[p] {
			if s.block <= b {
				staff[p] = append(staff[p], s.user)
			}
		}
	}
	custLo, custHi := blockUsers(b)
	if b == 0 {
		custLo = 14 // after the admin, owners and staff; Frank comes first
	} else {
		custLo += 3
	}
	windowStart := w.anchor.Add(-seedOrderWindow)
	orders := make([]seedOrder, seedOrdersPerBlock)
	for i := range orders {
		o := &orders[i]
		o.id = seedID("order", b, i)
		o.project = r.weighted(weights)
		p := &w.projects[o.project]
		// Most customers buy from the block they signed up in; some are
		// regulars from earlier blocks. min() makes a few of them frequent.
		lo, hi := custLo, custHi
		if b > 0 && r.chance(20) {
			ob := r.intn(b + 1)
			lo, hi = blockUsers(ob)
			lo += 3
			if ob == 0 {
				lo = 14
			}
		}
		o.customer = lo + min(r.intn(hi-lo), r.intn(hi-lo))
		from := windowStart
		if c := w.users[o.customer].created.Add(time.Hour); c.After(from) {
			from = c
		}
		span := int(w.anchor.Sub(from) / time.Second)
		off := r.intn(span)
		if r.chance(35) {
			// Some orders lean recent: the shops are growing.
			off = max(off, r.intn(span))
		}
		o.created = from.Add(time.Duration(off) * time.Second)

		o.currency = p.currencies[r.weighted(p.currencyW)]
		o.scale, _ = switchyard.CurrencyMinorUnits(o.currency)
		lines := 1 + r.weighted([]int{40, 30, 15, 10, 5})
		picked := make([]bool, len(p.catalogue))
		o.items = make([]seedItem, 0, lines)
		for range lines {
			k := r.intn(len(p.catalogue))
			for picked[k] {
				k = (k + 1) % len(p.catalogue)
			}
			picked[k] = true
			pr := p.catalogue[k]
			qty := int64(1 + r.weighted([]int{70, 18, 7, 3, 2}))
			unit := seedPrice(pr.usd, o.currency)
			o.items = append(o.items, seedItem{sku: pr.sku, name: pr.name, qty: qty, unit: unit, line: unit * qty})
			o.total += unit * qty
		}
		w.buildHistory(r, o, staff[o.project])
	}
	slices.SortFunc(orders, func(a, b seedOrder) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	return orders
}

var seedCarriers = map[string][]string{
	"USD": {"UPS", "FedEx", "USPS"},
	"EUR": {"DHL", "DPD"},
	"GBP": {"Royal Mail", "DPD"},
	"JPY": {"Yamato Transport", "Japan Post"},
}

func seedTracking(r *seedRand, carrier string) string {
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	switch carrier {
	case "UPS":
		return "1Z" + r.letters(6, alnum) + r.digits(10)
	case "FedEx":
		return r.digits(12)
	case "USPS":
		return "9400" + r.digits(18)
	case "DHL":
		return r.digits(10)
	case "DPD":
		return r.digits(14)
	case "Royal Mail":
		return r.letters(2, "ABCDEFGHJKLMNPRSTUVWXYZ") + r.digits(9) + "GB"
	case "Japan Post":
		return "EJ" + r.digits(9) + "JP"
	default:
		return r.digits(12)
	}
}

var (
	seedCancelByCustomer = []string{"Ordered the wrong size", "Found it cheaper elsewhere", "No longer needed", ""}
	seedCancelBySystem   = []string{"Payment was not completed within 72 hours", "Card declined"}
	seedCancelByStaff    = []string{"Out of stock", "Suspected fraud", "Cannot ship to this address"}
	seedRefundReasons    = []string{"Arrived damaged", "Returned within 30 days", "Wrong item shipped", "Customer changed their mind", "Lost in transit"}
)

// buildHistory walks the order from PENDING towards a target status drawn
// from plausible proportions, one lifecycle step at a time with increasing
// times, and stops at the anchor: a recent order has simply not got further
// yet. The order's status is where the walk ended.
func (w *seedWorld) buildHistory(r *seedRand, o *seedOrder, staff []int) {
	const (
		pending   = switchyard.OrderPending
		paid      = switchyard.OrderPaid
		fulfilled = switchyard.OrderFulfilled
		shipped   = switchyard.OrderShipped
		delivered = switchyard.OrderDelivered
		cancelled = switchyard.OrderCancelled
		refunded  = switchyard.OrderRefunded
	)
	targets := []switchyard.OrderStatus{pending, paid, fulfilled, shipped, delivered, cancelled, refunded}
	target := targets[r.weighted([]int{30, 35, 25, 50, 700, 90, 70})]

	var path []switchyard.OrderStatus
	ship := []switchyard.OrderStatus{paid, fulfilled, shipped}
	if r.chance(20) {
		ship = []switchyard.OrderStatus{paid, shipped} // drop-shipped: never packed here
	}
	switch target {
	case pending:
	case paid:
		path = []switchyard.OrderStatus{paid}
	case fulfilled:
		path = []switchyard.OrderStatus{paid, fulfilled}
	case shipped:
		path = ship
	case delivered:
		path = append(ship, delivered)
	case cancelled:
		if r.chance(65) {
			path = []switchyard.OrderStatus{cancelled}
		} else {
			path = []switchyard.OrderStatus{paid, cancelled}
		}
	case refunded:
		switch r.weighted([]int{20, 10, 20, 50}) {
		case 0:
			path = []switchyard.OrderStatus{paid, refunded}
		case 1:
			path = []switchyard.OrderStatus{paid, fulfilled, refunded}
		case 2:
			path = append(ship, refunded)
		default:
			path = append(ship, delivered, refunded)
		}
	}

	someStaff := func() int { return staff[r.intn(len(staff))] }
	o.history = append(o.history, seedChange{to: pending, actor: o.customer, at: o.created})
	at, cur := o.created, pending
	var carrier string
	for _, next := range path {
		c := seedChange{from: cur, to: next, actor: -1}
		switch next {
		case paid:
			c.at = at.Add(r.duration(2*time.Minute, 6*time.Hour))
			c.note = "Payment captured"
		case fulfilled:
			c.at = at.Add(r.duration(2*time.Hour, 48*time.Hour))
			c.actor = someStaff()
			if r.chance(40) {
				c.note = "Picked and packed"
			}
		case shipped:
			c.at = at.Add(r.duration(2*time.Hour, 60*time.Hour))
			c.actor = someStaff()
			cs := seedCarriers[o.currency]
			carrier = cs[r.intn(len(cs))]
			c.note = "Handed to " + carrier
		case delivered:
			c.at = at.Add(r.duration(24*time.Hour, 7*24*time.Hour))
			c.note = "Delivered by " + carrier
		case cancelled:
			c.at = at.Add(r.duration(time.Hour, 72*time.Hour))
			switch {
			case cur == paid:
				c.actor = someStaff()
				c.note = seedCancelByStaff[r.intn(len(seedCancelByStaff))]
			case r.chance(60):
				c.actor = o.customer
				c.note = seedCancelByCustomer[r.intn(len(seedCancelByCustomer))]
			default:
				c.note = seedCancelBySystem[r.intn(len(seedCancelBySystem))]
			}
		case refunded:
			c.at = at.Add(r.duration(24*time.Hour, 20*24*time.Hour))
			c.actor = someStaff()
			c.note = seedRefundReasons[r.intn(len(seedRefundReasons))]
		}
		if !c.at.Before(w.anchor) {
			break
		}
		if next == shipped {
			o.shipment = &seedShipment{
				carrier:  carrier,
				tracking: seedTracking(r, carrier),
				eta:      c.at.Add(time.Duration(r.between(3, 7)) * 24 * time.Hour).Truncate(24 * time.Hour),
			}
		}
		o.history = append(o.history, c)
		at, cur = c.at, next
	}
	o.status = cur
	o.updated = at
}
