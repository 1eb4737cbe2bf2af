package realtime

// signalLoss queues a nil for every subscriber, as a Redis reconnection
// does, so tests can prove a nil makes the hub catch up.
func (b *MemoryBroker) signalLoss() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for q := range b.subs {
		q.offer(nil)
	}
}
