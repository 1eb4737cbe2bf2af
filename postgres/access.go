package postgres

import (
	"fmt"
	"strings"

	"github.com/switchyard/switchyard"
)

// The access rules of the root package as SQL conditions, so lists, counts,
// batch loads and single lookups filter in the same statement that reads and
// can never disagree. Each returns a boolean expression over the given table
// alias; an anonymous caller reads nothing, and a partner (an API key) only
// what a grant of the rule gives one of its scopes, on its own project.

// memberProjectIDs is the set of projects a user owns or belongs to, excluding
// DELETED ones, as a subquery over the placeholder of the user's id.
func memberProjectIDs(userParam string) string {
	return fmt.Sprintf(`(SELECT p2.id FROM projects p2 WHERE p2.owner_id = %[1]s AND p2.status <> 'DELETED'
		UNION ALL
		SELECT pm2.project_id FROM project_members pm2 JOIN projects p3 ON p3.id = pm2.project_id
		WHERE pm2.user_id = %[1]s AND p3.status <> 'DELETED')`, userParam)
}

// forCaller is the shape every rule shares: nothing for an anonymous caller,
// everything for an admin, for a member the condition member builds over the
// placeholder of the member's id, and for a partner the conditions of the
// grants whose scope it holds, or nothing. A rule that names no grant is
// closed to partners, so a new rule never opens to them by accident.
func forCaller(c *switchyard.Caller, ps *params, member func(me string) string, partner ...partnerGrant) string {
	switch {
	case c == nil:
		return "FALSE"
	case c.IsPartner():
		return partnerCondition(c.Partner, ps, partner)
	case c.IsAdmin():
		return "TRUE"
	}
	return member(ps.add(c.UserID))
}

// partnerGrant is what one scope lets a partner read by a rule: cond over
// the partner's ids, whose placeholders ids adds as they are used.
type partnerGrant struct {
	scope switchyard.APIKeyScope
	cond  func(ids *partnerIDs) string
}

// partnerIDs hands out the placeholders of a partner's project and
// integration ids, each added once and only if a condition uses it:
// PostgreSQL refuses parameters a statement does not use.
type partnerIDs struct {
	p                    *switchyard.PartnerCaller
	ps                   *params
	project, integration string
}

func (x *partnerIDs) Project() string {
	if x.project == "" {
		x.project = x.ps.add(x.p.ProjectID) + "::uuid"
	}
	return x.project
}

func (x *partnerIDs) Integration() string {
	if x.integration == "" {
		x.integration = x.ps.add(x.p.IntegrationID) + "::uuid"
	}
	return x.integration
}

// partnerCondition ORs the conditions of the grants p holds; FALSE when it
// holds none.
func partnerCondition(p *switchyard.PartnerCaller, ps *params, grants []partnerGrant) string {
	ids := &partnerIDs{p: p, ps: ps}
	var conds []string
	for _, g := range grants {
		if p.Can(g.scope) {
			conds = append(conds, g.cond(ids))
		}
	}
	if len(conds) == 0 {
		return "FALSE"
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// canReadProject: admins read all; members the non-deleted projects they own or
// belong to; a partner with PROJECTS_READ its own project while it is not
// deleted.
func canReadProject(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("%s.id IN %s", alias, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeProjectsRead, func(ids *partnerIDs) string {
		return fmt.Sprintf("(%[1]s.id = %[2]s AND %[1]s.status <> 'DELETED')", alias, ids.Project())
	}})
}

// canReadAnalytics: the projects whose numbers a caller reads. Admins all;
// members the non-deleted projects they own or belong to (not those they only
// order in); a partner with ANALYTICS_READ its own project while it is not
// deleted. Reading the project itself (PROJECTS_READ) does not open its
// revenue.
func canReadAnalytics(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("%s.id IN %s", alias, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeAnalyticsRead, func(ids *partnerIDs) string {
		return fmt.Sprintf("(%[1]s.id = %[2]s AND %[1]s.status <> 'DELETED')", alias, ids.Project())
	}})
}

// canReadOrder: admins read all; members the orders of their projects and the
// orders where they are the customer; a partner with ORDERS_READ (or
// ORDERS_WRITE) the orders of its project.
func canReadOrder(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("(%[1]s.customer_id = %[2]s OR %[1]s.project_id IN %[3]s)", alias, me, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeOrdersRead, func(ids *partnerIDs) string {
		return fmt.Sprintf("%s.project_id = %s", alias, ids.Project())
	}})
}

// canWriteOrdersIn: who may create and change orders in the project over
// alias: admins; the project's owner and members; a partner with
// ORDERS_WRITE in its own project while it is not deleted.
func canWriteOrdersIn(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("%s.id IN %s", alias, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeOrdersWrite, func(ids *partnerIDs) string {
		return fmt.Sprintf("(%[1]s.id = %[2]s AND %[1]s.status <> 'DELETED')", alias, ids.Project())
	}})
}

// canReadIntegration: admins read all; members the integrations of their
// projects; a partner with INTEGRATIONS_READ its own integration only, since
// another integration's endpoint URL may carry that system's own token.
func canReadIntegration(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("%s.project_id IN %s", alias, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeIntegrationsRead, func(ids *partnerIDs) string {
		return fmt.Sprintf("(%[1]s.id = %[2]s AND %[1]s.project_id = %[3]s)", alias, ids.Integration(), ids.Project())
	}})
}

// canReadUser: admins read every user; members read themselves, the owners and
// members of their projects, and the customers of their projects' orders. A
// partner reads the customers of its project's orders with ORDERS_READ, and
// its project's owner and members with PROJECTS_READ.
// Deleted users are never read by id or listed; see UserService.
func canReadUser(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf(`(%[1]s.id = %[2]s
		OR %[1]s.id IN (SELECT p4.owner_id FROM projects p4 WHERE p4.id IN %[3]s)
		OR %[1]s.id IN (SELECT pm4.user_id FROM project_members pm4 WHERE pm4.project_id IN %[3]s)
		OR EXISTS (SELECT 1 FROM orders o4 WHERE o4.customer_id = %[1]s.id AND o4.project_id IN %[3]s))`, alias, me, memberProjectIDs(me))
	}, partnerGrant{switchyard.ScopeOrdersRead, func(ids *partnerIDs) string {
		return fmt.Sprintf(`EXISTS (SELECT 1 FROM orders o4 WHERE o4.customer_id = %s.id AND o4.project_id = %s)`, alias, ids.Project())
	}}, partnerGrant{switchyard.ScopeProjectsRead, func(ids *partnerIDs) string {
		return fmt.Sprintf(`(%[1]s.id IN (SELECT p4.owner_id FROM projects p4 WHERE p4.id = %[2]s AND p4.status <> 'DELETED')
		OR %[1]s.id IN (SELECT pm4.user_id FROM project_members pm4 JOIN projects p5 ON p5.id = pm4.project_id
			WHERE pm4.project_id = %[2]s AND p5.status <> 'DELETED'))`, alias, ids.Project())
	}})
}

// canChangeProject: the owner or an admin changes a project and its members.
func canChangeProject(c *switchyard.Caller, p *switchyard.Project) bool {
	return c.IsAdmin() || (c != nil && p.OwnerID == c.UserID)
}
