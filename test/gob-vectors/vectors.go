// The representative values of the cross-check. mesh/gob/go-cross.test.ts holds the same
// values and types on the TypeScript side; change both together.
package main

import (
	"math"
	"time"
)

type PeerName uint64
type PeerUID uint64
type PeerShortID uint16

// The shapes mesh gossips in its topology channel (weaveworks/mesh peer.go, peers.go).
type peerSummary struct {
	NameByte   []byte
	NickName   string
	UID        PeerUID
	Version    uint64
	ShortID    PeerShortID
	HasShortID bool
}

type connectionSummary struct {
	NameByte      []byte
	RemoteTCPAddr string
	Outbound      bool
	Established   bool
}

type Leaf struct {
	Label string
	N     int32
}

type Key struct {
	X, Y int16
}

type Names []string

type Node struct {
	Val  int
	Kids []Node
}

type Wrapper struct {
	Inner any
	Items []any
}

type Outer struct {
	Name string
	Any  any
}

// Sink has a field of most kinds; unexported and nil/zero fields are not sent.
type Sink struct {
	Counts   map[string][]int64
	ByKey    map[Key]string
	Octets   [4]uint8
	Grid     [2][2]float32
	Any      any
	AnyInt   any
	AnyNil   any
	F        float64
	C        complex128
	Min      int64
	Max      uint64
	Ptr      *Leaf
	NilPtr   *Leaf
	Leaves   []Leaf
	Empty    []string
	EmptyMap map[string]int
	NilMap   map[string]int
	Blob     []byte
	When     time.Time
	Tags     Names
	Flag     bool
	Zero     int
	hidden   int
}

// Maps keyed and valued by structs first met there: Go sends those definitions unnamed.
type MapKey struct{ A, B uint8 }
type MapVal struct{ S string }

func mathFloat64bits(f float64) uint64 { return math.Float64bits(f) }

func vectors() []vector {
	name := []byte{0, 0, 0, 0, 0, 0x0a}
	return []vector{
		{"features", []any{map[string]string{
			"Name": "00:00:00:00:00:0a", "NickName": "gopeer", "PeerNameFlavour": "mac",
			"UID": "5", "ConnID": "12345678901234567890", "ShortID": "7",
		}}},
		{"gossip", []any{"topology", PeerName(0x0a), []byte{0xaa, 0xbb}}},
		{"gossip-unicast", []any{"IPallocation", PeerName(0xfedcba987654), PeerName(1), []byte("payload")}},
		{"topology", []any{
			peerSummary{name, "gopeer", 300, 2, 7, true},
			[]connectionSummary{
				{[]byte{0, 0, 0, 0, 0, 0x0b}, "127.0.0.1:6783", true, true},
				{[]byte{0, 0, 0, 0, 0, 0x0c}, "10.0.0.3:41234", false, false},
			},
			peerSummary{NameByte: []byte{0, 0, 0, 0, 0, 0x0b}, NickName: "placeholder"},
			[]connectionSummary{},
		}},
		{"scalars", []any{
			int64(math.MinInt64), uint64(math.MaxUint64), -2.5, complex(1.5, -2), false, "", 0, []byte{},
			int8(-1), float32(0.1), math.Inf(-1),
		}},
		{"kitchen", []any{Sink{
			Counts:   map[string][]int64{"a": {1, -1, 1 << 40}},
			ByKey:    map[Key]string{{X: -3, Y: 4}: "k"},
			Octets:   [4]uint8{10, 0, 255, 128},
			Grid:     [2][2]float32{{1, 2}, {0, -0.5}},
			Any:      Leaf{Label: "in iface", N: -7},
			AnyInt:   42,
			F:        math.Pi,
			C:        complex(0, 1),
			Min:      math.MinInt64,
			Max:      math.MaxUint64,
			Ptr:      &Leaf{Label: "ptr"},
			Leaves:   []Leaf{{Label: "x", N: 1}, {}},
			Empty:    []string{},
			EmptyMap: map[string]int{},
			Blob:     []byte("blob"),
			When:     time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC),
			Tags:     Names{"t1", ""},
			Flag:     true,
			hidden:   9,
		}}},
		{"nested-interface", []any{Outer{
			Name: "outer",
			Any: Wrapper{
				Inner: Key{X: 1, Y: -1},
				Items: []any{7, "s", nil, Leaf{Label: "l"}, Wrapper{Inner: uint16(3)}},
			},
		}}},
		{"recursive", []any{Node{Val: 1, Kids: []Node{{Val: 2}, {Val: 3, Kids: []Node{{Val: -4}}}}}}},
		{"interface-slice", []any{[]any{5, "str", nil, Leaf{N: 1}, []byte{1}, 2.0}}},
		{"map-struct-key", []any{map[MapKey]MapVal{{A: 1, B: 2}: {S: "v"}}}},
		{"named-slice", []any{Names{"a", "b"}, [3]int{1, 2, 3}, map[string]Names{"k": {"v"}}}},
	}
}
