package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/scar-dev/scar/dockerops"
)

// StatsReader is the dockerops call behind /docker_stats; *dockerops.Service
// satisfies it. It is asked of Deps.Ops, so that Operations need not grow for it: a
// bot whose Operations cannot read stats says so.
type StatsReader interface {
	Stats(ctx context.Context, project string) (*dockerops.ProjectStats, error)
}

// statsNameWidth bounds the container column, so that a row stays readable on a
// phone; longer names are clipped.
const statsNameWidth = 24

func (b *Bot) stats(ctx context.Context, in *request) string {
	name, err := projectArg(in.cmd)
	if err != nil {
		return esc(err.Error())
	}
	p, refusal := b.resolve(ctx, in, name, dockerops.OpStats)
	if p == nil {
		return refusal
	}
	reader, ok := b.ops.(StatsReader)
	if !ok {
		return "⚠️ This scar cannot read container stats.\n" + next(b.cmdRef("docker_status", p.Name))
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	st, err := reader.Stats(ctx, p.Name)
	b.record(ctx, in.who(), dockerops.OpStats, p.Name, auditOutcome(err), "")
	if err != nil {
		return errorText("read the stats", err) + "\n" + next(b.cmdRef("docker_status", p.Name))
	}
	b.sendReply(ctx, in.chatID, b.formatStats(st))
	return ""
}

// formatStats shows a project's stats as a table in <pre>, one row per container:
// CPU % (100 is one core), memory used / limit (%), network received / sent, block
// read / written and PIDs, in docker stats' units (binary for memory, decimal for
// I/O), kept short.
func (b *Bot) formatStats(st *dockerops.ProjectStats) *reply {
	r := &reply{}
	r.add("📊 <b>%s</b> - Stats", esc(title(st.Project)))
	if len(st.Containers) == 0 {
		r.add("⚠️ No containers found for this project.")
		r.add("%s", next(b.cmdRef("docker_status", st.Project)))
		return r
	}
	rows := [][]string{{"CONTAINER", "CPU", "MEM / LIMIT (%)", "NET RX/TX", "BLOCK R/W", "PIDS"}}
	for _, c := range st.Containers {
		name := clip(c.Name, statsNameWidth)
		if c.State != "running" {
			state := c.State
			if state == dockerops.StateNotFound {
				state = "not found"
			}
			rows = append(rows, []string{name, "-", state, "", "", ""})
			continue
		}
		mem := binarySize(c.MemoryBytes) + " / " + binarySize(c.MemoryLimitBytes) + " (" + strconv.FormatFloat(c.MemoryPercent, 'f', 1, 64) + "%)"
		rows = append(rows, []string{
			name,
			strconv.FormatFloat(c.CPUPercent, 'f', 1, 64) + "%",
			mem,
			decimalSize(c.NetRxBytes) + " / " + decimalSize(c.NetTxBytes),
			decimalSize(c.BlockReadBytes) + " / " + decimalSize(c.BlockWriteBytes),
			strconv.FormatUint(c.PIDs, 10),
		})
	}
	r.addPre(table(rows)...)
	if n := st.Containers[0].OnlineCPUs; n > 0 {
		r.add("<i>CPU: 100%% is one core of %d.</i>", n)
	}
	r.add("%s", next(b.cmdRef("docker_status", st.Project), b.cmdRef("docker_logs", st.Project)))
	return r
}

// table aligns rows in columns two spaces apart, trailing blanks trimmed.
func table(rows [][]string) []string {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	out := make([]string, len(rows))
	for i, row := range rows {
		var sb strings.Builder
		for j, cell := range row {
			sb.WriteString(cell)
			if j < len(row)-1 {
				sb.WriteString(strings.Repeat(" ", widths[j]-len([]rune(cell))+2))
			}
		}
		out[i] = strings.TrimRight(sb.String(), " ")
	}
	return out
}

// binarySize is n in B, KiB, MiB, GiB or TiB with at most three significant digits.
func binarySize(n uint64) string {
	return humanSize(float64(n), 1024, []string{"B", "KiB", "MiB", "GiB", "TiB"})
}

// decimalSize is n in B, kB, MB, GB or TB with at most three significant digits.
func decimalSize(n uint64) string {
	return humanSize(float64(n), 1000, []string{"B", "kB", "MB", "GB", "TB"})
}

func humanSize(v, base float64, units []string) string {
	i := 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%.0f%s", v, units[i])
	case v < 10:
		return fmt.Sprintf("%.2f%s", v, units[i])
	case v < 100:
		return fmt.Sprintf("%.1f%s", v, units[i])
	}
	return fmt.Sprintf("%.0f%s", v, units[i])
}
