package searchtest

import (
	"fmt"
	"time"

	"github.com/switchyard/switchyard"
)

// The fixed corpus. Alice belongs to Acme and ordered in Globex; Bob owns
// Acme; Erin belongs to Globex; Zed belongs to nothing; Initech is DELETED.
const (
	uAlice = "u-alice"
	uBob   = "u-bob"
	uErin  = "u-erin"
	uZed   = "u-zed"

	pAcme    = "p-acme"
	pGlobex  = "p-globex"
	pInitech = "p-initech"

	o1432  = "o-1432"  // SO-001432, Acme, Alice, PAID, 120.50 USD
	o1433  = "o-1433"  // SO-001433, Acme, Bob, SHIPPED, 75.00 USD
	o14320 = "o-14320" // SO-014320, Globex, Erin, PENDING, 900.00 USD
	o7     = "o-7"     // SO-000007, Globex, Alice, DELIVERED, 15.00 EUR
	o99    = "o-99"    // SO-000099, Initech, Erin, CANCELLED, 5000 JPY

	iStripe = "i-stripe"
)

var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time { return base.AddDate(0, 0, n) }

func key(t switchyard.SearchType, id string) string { return switchyard.SearchKey(t, id) }

// corpus returns the fixed documents, all at version 1.
func corpus() []switchyard.SearchDocument {
	return []switchyard.SearchDocument{
		{Type: switchyard.SearchUser, ID: uAlice, Version: 1, Name: "Alice Martin", Email: "alice@example.com",
			CreatedAt: day(0), ProjectIDs: []string{pAcme, pGlobex}, UserIDs: []string{uAlice}},
		{Type: switchyard.SearchUser, ID: uBob, Version: 1, Name: "Bob Stone", Email: "bob@example.com",
			CreatedAt: day(1), ProjectIDs: []string{pAcme}, UserIDs: []string{uBob}},
		{Type: switchyard.SearchUser, ID: uErin, Version: 1, Name: "Erin Walsh", Email: "erin@globex.com",
			CreatedAt: day(2), ProjectIDs: []string{pGlobex, pInitech}, UserIDs: []string{uErin}},
		{Type: switchyard.SearchUser, ID: uZed, Version: 1, Name: "Zed Ordway", Email: "zed@example.org",
			CreatedAt: day(3), UserIDs: []string{uZed}},

		{Type: switchyard.SearchProject, ID: pAcme, Version: 1, Name: "Acme Rockets",
			Description: "Rocket parts and launch services for small satellites", Status: "ACTIVE",
			ProjectID: pAcme, CreatedAt: day(4), ProjectIDs: []string{pAcme}},
		{Type: switchyard.SearchProject, ID: pGlobex, Version: 1, Name: "Globex Logistics",
			Description: "Freight forwarding; services for acme customers", Status: "ARCHIVED",
			ProjectID: pGlobex, CreatedAt: day(5), ProjectIDs: []string{pGlobex}},
		{Type: switchyard.SearchProject, ID: pInitech, Version: 1, Name: "Initech R&D <b>labs</b>",
			Description: "TPS reports", Status: "DELETED", ProjectID: pInitech, CreatedAt: day(6)},

		{Type: switchyard.SearchOrder, ID: o1432, Version: 1, Number: "SO-001432",
			Description: "Rocket fuel; launch pad rental", CustomerName: "Alice Martin", CustomerEmail: "alice@example.com",
			ProjectName: "Acme Rockets", Status: "PAID", ProjectID: pAcme, CreatedAt: day(10), Total: "120.50", Currency: "USD",
			ProjectIDs: []string{pAcme}, UserIDs: []string{uAlice}},
		{Type: switchyard.SearchOrder, ID: o1433, Version: 1, Number: "SO-001433",
			Description: "Nose cone", CustomerName: "Bob Stone", CustomerEmail: "bob@example.com",
			ProjectName: "Acme Rockets", Status: "SHIPPED", ProjectID: pAcme, CreatedAt: day(11), Total: "75.00", Currency: "USD",
			ProjectIDs: []string{pAcme}, UserIDs: []string{uBob}},
		{Type: switchyard.SearchOrder, ID: o14320, Version: 1, Number: "SO-014320",
			Description: "Pallet shipping", CustomerName: "Erin Walsh", CustomerEmail: "erin@globex.com",
			ProjectName: "Globex Logistics", Status: "PENDING", ProjectID: pGlobex, CreatedAt: day(12), Total: "900.00", Currency: "USD",
			ProjectIDs: []string{pGlobex}, UserIDs: []string{uErin}},
		{Type: switchyard.SearchOrder, ID: o7, Version: 1, Number: "SO-000007",
			Description: "Customs paperwork", CustomerName: "Alice Martin", CustomerEmail: "alice@example.com",
			ProjectName: "Globex Logistics", Status: "DELIVERED", ProjectID: pGlobex, CreatedAt: day(13), Total: "15.00", Currency: "EUR",
			ProjectIDs: []string{pGlobex}, UserIDs: []string{uAlice}},
		{Type: switchyard.SearchOrder, ID: o99, Version: 1, Number: "SO-000099",
			Description: "Stapler", CustomerName: "Erin Walsh", CustomerEmail: "erin@globex.com",
			ProjectName: "Initech R&D <b>labs</b>", Status: "CANCELLED", ProjectID: pInitech, CreatedAt: day(14), Total: "5000", Currency: "JPY",
			ProjectIDs: []string{pInitech}, UserIDs: []string{uErin}},

		{Type: switchyard.SearchIntegration, ID: iStripe, Version: 1, Name: "Stripe payments",
			Description: "stripe webhook connector", ProjectName: "Acme Rockets", Status: "ACTIVE", ProjectID: pAcme,
			CreatedAt: day(20), ProjectIDs: []string{pAcme}},
	}
}

// viewers of the access matrix.
var (
	admin = &switchyard.Viewer{UserID: "u-admin", Admin: true}
	alice = &switchyard.Viewer{UserID: uAlice, ProjectIDs: map[string]bool{pAcme: true}}
	erin  = &switchyard.Viewer{UserID: uErin, ProjectIDs: map[string]bool{pGlobex: true}}
	zed   = &switchyard.Viewer{UserID: uZed, ProjectIDs: map[string]bool{}}
)

// widgets are n orders sharing the word "widget", for pagination; their
// scores tie in groups so the tie-breaker is exercised.
func widgets(n int) []switchyard.SearchDocument {
	docs := make([]switchyard.SearchDocument, n)
	for i := range docs {
		desc := "widget"
		if i%3 == 0 {
			desc = "widget widget gadget"
		}
		docs[i] = switchyard.SearchDocument{
			Type: switchyard.SearchOrder, ID: fmt.Sprintf("w-%03d", i), Version: 1,
			Number: fmt.Sprintf("WO-%06d", 500000+i), Description: desc, Status: "PAID", ProjectID: pAcme,
			CreatedAt: day(30 + i), Total: "1.00", Currency: "USD", ProjectIDs: []string{pAcme},
		}
	}
	return docs
}
