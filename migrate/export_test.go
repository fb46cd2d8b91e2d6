package migrate

// Hooks for the external tests (package migrate_test), which cannot live
// in this package because they import the native backends.

// ErrKilled makes a fault abandon the user without cleanup, as kill -9.
var ErrKilled = errKilled

// SetFault installs a hook called at every protocol step.
func SetFault(m *Migrator, f func(step string) error) { m.fault = f }

// Step names, for fault injection.
const (
	StepLookup    = stepLookup
	StepBulk      = stepBulk
	StepMigrating = stepMigrating
	StepDelta     = stepDelta
	StepVerify    = stepVerify
	StepCache     = stepCache
	StepFlip      = stepFlip
	StepExport    = stepExport
)

// StepDelete is the deletion of a moved user's source copy.
const StepDelete = stepDelete
