package main

import (
	"fmt"
	"os"
	"strings"
)

// readmeBlock is a fenced shell block of the README that a test runs.
type readmeBlock struct {
	Name string // from the marker comment
	Line int    // of the opening fence, for messages
	Code string
}

// walkthroughMarker starts the HTML comment that marks the next fenced
// block as a step of the README's walk-through: <!-- walkthrough: NAME -->.
const walkthroughMarker = "<!-- walkthrough:"

// readmeBlocks returns the blocks of the Markdown file at path marked with
// <!-- walkthrough: NAME -->, in order. The marker must be followed by a
// ```sh fence (blank lines between are allowed); anything else, an
// unterminated fence or a repeated name is an error, so that a marker
// cannot silently stop covering its block.
func readmeBlocks(path string) ([]readmeBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var blocks []readmeBlock
	seen := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, walkthroughMarker) {
			continue
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(line, walkthroughMarker), "-->")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: malformed marker %q, want <!-- walkthrough: NAME -->", path, i+1, line)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s:%d: walk-through step %q marked twice", path, i+1, name)
		}
		seen[name] = true
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j == len(lines) || strings.TrimSpace(lines[j]) != "```sh" {
			return nil, fmt.Errorf("%s:%d: walk-through marker %q is not followed by a ```sh block", path, i+1, name)
		}
		blk := readmeBlock{Name: name, Line: j + 1}
		var code []string
		k := j + 1
		for ; k < len(lines) && strings.TrimSpace(lines[k]) != "```"; k++ {
			code = append(code, lines[k])
		}
		if k == len(lines) {
			return nil, fmt.Errorf("%s:%d: the block of walk-through step %q is not closed", path, j+1, name)
		}
		blk.Code = strings.Join(code, "\n") + "\n"
		blocks = append(blocks, blk)
		i = k
	}
	return blocks, nil
}
