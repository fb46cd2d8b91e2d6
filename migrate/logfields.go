package migrate

import "go.uber.org/zap"

func userField(name string) zap.Field { return zap.String("user", name) }

func stringField(k, v string) zap.Field { return zap.String(k, v) }
