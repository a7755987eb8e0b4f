/*
 * Wire format of the Prague-like UDP sender and its receiver.
 *
 * Data (sender -> receiver): a header, then padding to the datagram size.
 * Packet numbers are never reused: lost data is not resent (the payload is
 * filler), the sender simply sends new packets, as QUIC does; goodput is
 * counted in unique packets received.
 *
 * ACK (receiver -> sender), AccECN-like: cumulative counts of unique packets
 * and bytes received and of those that arrived CE-marked, so a lost or
 * reordered ACK loses no congestion information; the largest packet number
 * seen with its send time echoed and the time the receiver held it; and a
 * bitmap of the PW_ACK_BITS packet numbers below the largest, for loss
 * detection and flight accounting.
 *
 * FIN (sender -> receiver): the sender is done; the receiver reports and exits.
 *
 * All fields big-endian.  Every datagram is checked for size, magic, type
 * and flow id; anything else is counted and ignored.
 */
#ifndef AQMLLM_PRAGUE_WIRE_H
#define AQMLLM_PRAGUE_WIRE_H

#include <stdint.h>

#define	PW_MAGIC	0x50524731U	/* "PRG1" */
#define	PW_DATA		1
#define	PW_ACK		2
#define	PW_FIN		3
#define	PW_ACK_BITS	512

struct pw_hdr {
	uint32_t magic;
	uint8_t type;
	uint8_t pad[3];
	uint32_t flow_id;	/* the sender's, echoed in ACKs */
} __attribute__((packed));

struct pw_data {
	struct pw_hdr h;
	uint64_t seq;
	uint64_t send_ns;	/* sender's CLOCK_MONOTONIC */
} __attribute__((packed));

struct pw_ack {
	struct pw_hdr h;
	uint64_t largest;	/* largest packet number received */
	uint64_t echo_send_ns;	/* its send_ns */
	uint64_t ack_delay_ns;	/* time between its arrival and this ACK */
	uint64_t rx_pkts, rx_bytes;	/* unique packets (payload bytes) */
	uint64_t ce_pkts, ce_bytes;	/* of which arrived CE-marked */
	uint64_t not_l4s_pkts;	/* arrived Not-ECT or ECT(0): bleached? */
	uint8_t bitmap[PW_ACK_BITS / 8];	/* bit i: largest-1-i received */
} __attribute__((packed));

struct pw_fin {
	struct pw_hdr h;
	uint64_t sent_pkts;
} __attribute__((packed));

/* IPv4 + UDP header bytes on the wire before the payload. */
#define	PW_IP_UDP	28

#endif /* AQMLLM_PRAGUE_WIRE_H */
