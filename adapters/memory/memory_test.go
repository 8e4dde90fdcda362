package memory_test

import (
	"testing"

	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyTestMain(m) }
