// maps_format.h: how saliency maps are stored ([output] maps): shared by the configuration and the
// result file layout without either header including the other.
#ifndef PC_MAPS_FORMAT_H
#define PC_MAPS_FORMAT_H

typedef enum { PC_MAPS_NONE = 0, PC_MAPS_F16, PC_MAPS_F32 } PcMapsFormat;

#endif
