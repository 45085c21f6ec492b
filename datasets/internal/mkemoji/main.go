// Command mkemoji rebuilds the built-in emoji dataset from the npm package
// emoji-datasource-google (Noto Emoji images, Apache-2.0). See
// scripts/build-emoji.sh, which fetches the package and runs this.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ganstudio/ganstudio/datasets"
)

type emoji struct {
	Name        string `json:"name"`
	Image       string `json:"image"`
	Category    string `json:"category"`
	Subcategory string `json:"subcategory"`
	SortOrder   int    `json:"sort_order"`
	HasGoogle   bool   `json:"has_img_google"`
}

func main() {
	pkg := flag.String("pkg", "", "unpacked emoji-datasource-google package folder")
	out := flag.String("out", "datasets/builtin", "where to write the sheets")
	flag.Parse()
	raw, err := os.ReadFile(filepath.Join(*pkg, "emoji.json"))
	if err != nil {
		log.Fatal(err)
	}
	var all []emoji
	if err := json.Unmarshal(raw, &all); err != nil {
		log.Fatal(err)
	}
	// Round faces only: the "face-*" subcategories of Smileys & Emotion, less
	// face-costume (ghosts, robots, aliens), which are not round faces.
	var faces []emoji
	for _, e := range all {
		if e.Category == "Smileys & Emotion" && strings.HasPrefix(e.Subcategory, "face-") && e.Subcategory != "face-costume" && e.HasGoogle {
			faces = append(faces, e)
		}
	}
	sort.Slice(faces, func(i, j int) bool { return faces[i].SortOrder < faces[j].SortOrder })
	var names []string
	for _, size := range []int{32, 64} {
		im := datasets.NewImporter("emoji", size, datasets.DefaultLimits())
		names = names[:0]
		for _, e := range faces {
			f, err := os.Open(filepath.Join(*pkg, "img", "google", "64", e.Image))
			if err != nil {
				log.Fatal(err)
			}
			if err := im.Add(context.Background(), e.Image, f); err != nil {
				log.Fatal(err)
			}
			f.Close()
			names = append(names, strings.ToLower(e.Name))
		}
		ds, rep, err := im.Finish()
		if err != nil || len(rep.Skipped) > 0 {
			log.Fatalf("emoji at %d: %v %v", size, err, rep.Skipped)
		}
		w, err := os.Create(filepath.Join(*out, fmt.Sprintf("emoji%d.png", size)))
		if err != nil {
			log.Fatal(err)
		}
		if err := ds.WriteSheet(w, 16); err != nil {
			log.Fatal(err)
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
	}
	list, _ := json.MarshalIndent(names, "", " ")
	if err := os.WriteFile(filepath.Join(*out, "emoji.json"), append(list, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d emoji faces at 32 and 64 pixels to %s\n", len(names), *out)
}
