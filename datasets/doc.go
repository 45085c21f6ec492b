// Package datasets turns folders, zips and loose image files into prepared,
// fixed-size training sets, and ships GAN Studio's built-in datasets.
package datasets
