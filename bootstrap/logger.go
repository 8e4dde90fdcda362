package bootstrap

import (
	"fmt"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the process logger from the configured level and format.
func NewLogger(cfg Config) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(cfg.LogLevel); err != nil {
		return nil, fmt.Errorf("FASTDEAL_LOG_LEVEL=%q: %w", cfg.LogLevel, err)
	}
	zc := zap.NewProductionConfig()
	if cfg.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = lvl > zapcore.DebugLevel
	l, err := zc.Build()
	if err != nil {
		return nil, err
	}
	return l.With(zap.String("instance", cfg.InstanceID)), nil
}

// loggerOptions provide zap and route fx's own events through it, at debug
// level so that start-up is quiet unless asked. fx.WithLogger only takes
// effect at the top level, hence options rather than a module.
var loggerOptions = fx.Options(
	fx.Provide(NewLogger),
	fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
		zl := &fxevent.ZapLogger{Logger: l.Named("fx")}
		zl.UseLogLevel(zapcore.DebugLevel)
		// A failed start is reported once, as one line, by whoever called
		// Start; fx would log it again with its chain of constructors.
		zl.UseErrorLevel(zapcore.DebugLevel)
		return zl
	}),
)
