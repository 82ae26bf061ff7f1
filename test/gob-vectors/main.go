// gob-vectors: Go's side of weft's gob cross-check (mesh/gob/go-cross.test.ts).
//
//	gob-vectors emit    prints, per vector, one JSON line {name, hex, values}: the gob stream
//	                    Go writes for the vector's values (all vectors share this process, so
//	                    type ids continue from one vector to the next) and the values in
//	                    canonical JSON.
//	gob-vectors decode  reads lines "name hex" on stdin, decodes each stream into the Go types
//	                    of that vector and prints {name, values, error} lines.
//
// Canonical JSON: ints and uints as decimal strings, floats as 16 hex digits of their IEEE
// bits, []byte and GobEncoder data as hex, arrays and slices as arrays, maps as
// {"map": [[k, v], ...]}, structs as objects of all exported fields, nil pointers as their
// element's zero value, interfaces as null or {"type": name, "value": v}.
package main

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

type vector struct {
	name   string
	values []any
}

var registered = map[reflect.Type]string{}

func register(name string, v any) {
	gob.RegisterName(name, v)
	registered[reflect.TypeOf(v)] = name
}

func main() {
	register("main.Leaf", Leaf{})
	register("main.Wrapper", Wrapper{})
	register("main.Key", Key{})
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gob-vectors emit|decode")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "emit":
		err = emit(os.Stdout)
	case "decode":
		err = decode(os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gob-vectors:", err)
		os.Exit(1)
	}
}

func emit(w io.Writer) error {
	out := json.NewEncoder(w)
	for _, v := range vectors() {
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		var canons []any
		for _, x := range v.values {
			if err := enc.Encode(x); err != nil {
				return fmt.Errorf("%s: %v", v.name, err)
			}
			canons = append(canons, canon(reflect.ValueOf(x)))
		}
		line := map[string]any{"name": v.name, "hex": hex.EncodeToString(buf.Bytes()), "values": canons}
		if err := out.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

func decode(r io.Reader, w io.Writer) error {
	byName := map[string]vector{}
	for _, v := range vectors() {
		byName[v.name] = v
	}
	out := json.NewEncoder(w)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		name, hexData, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if name == "" {
			continue
		}
		canons, err := decodeOne(byName, name, hexData)
		line := map[string]any{"name": name, "values": canons, "error": ""}
		if err != nil {
			line["error"] = err.Error()
		}
		if err := out.Encode(line); err != nil {
			return err
		}
	}
	return sc.Err()
}

func decodeOne(byName map[string]vector, name, hexData string) ([]any, error) {
	v, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown vector %q", name)
	}
	data, err := hex.DecodeString(hexData)
	if err != nil {
		return nil, err
	}
	dec := gob.NewDecoder(bytes.NewReader(data))
	canons := []any{}
	for i, x := range v.values {
		p := reflect.New(reflect.TypeOf(x))
		if err := dec.DecodeValue(p); err != nil {
			return canons, fmt.Errorf("value %d: %v", i, err)
		}
		canons = append(canons, canon(p.Elem()))
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return canons, fmt.Errorf("data after the last value (%v)", err)
	}
	return canons, nil
}

var gobEncoderType = reflect.TypeOf((*gob.GobEncoder)(nil)).Elem()

func canon(v reflect.Value) any {
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && v.Type().Implements(gobEncoderType) {
		data, err := v.Interface().(gob.GobEncoder).GobEncode()
		if err != nil {
			return "error: " + err.Error()
		}
		return hex.EncodeToString(data)
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return floatHex(v.Float())
	case reflect.Complex64, reflect.Complex128:
		return []any{floatHex(real(v.Complex())), floatHex(imag(v.Complex()))}
	case reflect.String:
		return v.String()
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return hex.EncodeToString(v.Bytes())
		}
		items := []any{}
		for i := 0; i < v.Len(); i++ {
			items = append(items, canon(v.Index(i)))
		}
		return items
	case reflect.Map:
		pairs := [][]any{}
		iter := v.MapRange()
		for iter.Next() {
			pairs = append(pairs, []any{canon(iter.Key()), canon(iter.Value())})
		}
		sort.Slice(pairs, func(i, j int) bool { return jsonOf(pairs[i][0]) < jsonOf(pairs[j][0]) })
		return map[string]any{"map": pairs}
	case reflect.Struct:
		obj := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				obj[f.Name] = canon(v.Field(i))
			}
		}
		return obj
	case reflect.Pointer:
		if v.IsNil() {
			return canon(reflect.Zero(v.Type().Elem()))
		}
		return canon(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		name, ok := registered[e.Type()]
		if !ok {
			name = e.Type().String()
		}
		return map[string]any{"type": name, "value": canon(e)}
	}
	return "unsupported kind " + v.Kind().String()
}

func floatHex(f float64) string {
	return fmt.Sprintf("%016x", mathFloat64bits(f))
}

func jsonOf(x any) string {
	b, _ := json.Marshal(x)
	return string(b)
}
