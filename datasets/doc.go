// Package datasets turns folders, zips and loose image files into prepared
// training sets, kept at up to 256 px and served at any smaller side, and
// ships GAN Studio's built-in datasets.
package datasets
