package switchyard

// IsSearchHit marks the types a search can find; the generated GraphQL union
// SearchHit requires it of its members.
func (User) IsSearchHit()        {}
func (Project) IsSearchHit()     {}
func (Order) IsSearchHit()       {}
func (Integration) IsSearchHit() {}
