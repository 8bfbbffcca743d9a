//go:build hubline_faults

package main

func init() { chaosFull = true }
