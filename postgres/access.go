package postgres

import (
	"fmt"

	"github.com/switchyard/switchyard"
)

// The access rules of the root package as SQL conditions, so lists, counts,
// batch loads and single lookups filter in the same statement that reads and
// can never disagree. Each returns a boolean expression over the given table
// alias; an anonymous caller reads nothing.

// memberProjectIDs is the set of projects a user owns or belongs to, excluding
// DELETED ones, as a subquery over the placeholder of the user's id.
func memberProjectIDs(userParam string) string {
	return fmt.Sprintf(`(SELECT p2.id FROM projects p2 WHERE p2.owner_id = %[1]s AND p2.status <> 'DELETED'
		UNION ALL
		SELECT pm2.project_id FROM project_members pm2 JOIN projects p3 ON p3.id = pm2.project_id
		WHERE pm2.user_id = %[1]s AND p3.status <> 'DELETED')`, userParam)
}

// forCaller is the shape every rule shares: nothing for an anonymous caller,
// everything for an admin, and for a member the condition member builds over
// the placeholder of the member's id.
func forCaller(c *switchyard.Caller, ps *params, member func(me string) string) string {
	switch {
	case c == nil:
		return "FALSE"
	case c.IsAdmin():
		return "TRUE"
	}
	return member(ps.add(c.UserID))
}

// canReadProject: admins read all; members the non-deleted projects they own or
// belong to.
func canReadProject(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("%s.id IN %s", alias, memberProjectIDs(me))
	})
}

// canReadOrder: admins read all; members the orders of their projects and the
// orders where they are the customer.
func canReadOrder(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf("(%[1]s.customer_id = %[2]s OR %[1]s.project_id IN %[3]s)", alias, me, memberProjectIDs(me))
	})
}

// canReadUser: admins read every user; members read themselves, the owners and
// members of their projects, and the customers of their projects' orders.
// Deleted users are never read by id or listed; see UserService.
func canReadUser(c *switchyard.Caller, alias string, ps *params) string {
	return forCaller(c, ps, func(me string) string {
		return fmt.Sprintf(`(%[1]s.id = %[2]s
		OR %[1]s.id IN (SELECT p4.owner_id FROM projects p4 WHERE p4.id IN %[3]s)
		OR %[1]s.id IN (SELECT pm4.user_id FROM project_members pm4 WHERE pm4.project_id IN %[3]s)
		OR EXISTS (SELECT 1 FROM orders o4 WHERE o4.customer_id = %[1]s.id AND o4.project_id IN %[3]s))`, alias, me, memberProjectIDs(me))
	})
}

// canChangeProject: the owner or an admin changes a project and its members.
func canChangeProject(c *switchyard.Caller, p *switchyard.Project) bool {
	return c.IsAdmin() || (c != nil && p.OwnerID == c.UserID)
}
