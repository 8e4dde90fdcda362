package redis

import (
	"embed"

	"github.com/redis/rueidis"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// Declared once: rueidis caches each script's SHA-1 and falls back to EVAL
// only when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).
var (
	loadScript      = script("load", false, false)
	seatsScript     = script("seats", false, false)
	claimScript     = script("claim", false, true)
	releaseScript   = script("release", false, true)
	remainingScript = script("remaining", true, false)
	holdingsScript  = script("holdings", true, true)
	restoreScript   = script("restore", false, true)

	joinScript     = lineScript("join", false)
	standingScript = lineScript("standing", true)
	decideScript   = lineScript("decide", false)
	leaveScript    = lineScript("leave", false)
	snapshotScript = lineScript("snapshot", true)
	freezeScript   = lineScript("freeze", false)
	placeScript    = script("place", false, false)
	finishScript   = lineScript("finish", false)
	lapsedScript   = script("lapsed", true, false)

	acquireScript = script("acquire", false, false)
	unlockScript  = script("unlock", false, false)
)

// script reads scripts/name.lua, prefixed with scripts/lib.lua when withLib.
// Read-only scripts run as EVALSHA_RO so a replica could serve them.
func script(name string, readOnly, withLib bool) *rueidis.Lua {
	body := mustRead(name)
	if withLib {
		body = mustRead("lib") + "\n" + body
	}
	if readOnly {
		return rueidis.NewLuaScriptReadOnly(body)
	}
	return rueidis.NewLuaScript(body)
}

// lineScript reads scripts/name.lua prefixed with scripts/linelib.lua.
func lineScript(name string, readOnly bool) *rueidis.Lua {
	body := mustRead("linelib") + "\n" + mustRead(name)
	if readOnly {
		return rueidis.NewLuaScriptReadOnly(body)
	}
	return rueidis.NewLuaScript(body)
}

func mustRead(name string) string {
	b, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("redis: missing embedded script " + name + ": " + err.Error())
	}
	return string(b)
}
