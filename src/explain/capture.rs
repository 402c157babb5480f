//! Capture files (pcap and pcapng, as tshark and Wireshark write them):
//! every TCP connection reassembled and explained, both directions.
//!
//! The formats and packet headers are read with `pcap-file` and `etherparse`;
//! link types ETHERNET, LINUX_SLL, LINUX_SLL2, NULL/LOOP and raw IP are
//! handled, as loopback captures on Linux and macOS use them.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Cursor};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::websocket::{DeflateParams, Role};

use super::Explanation;
use super::layout::Out;
use super::stream::StreamExplainer;

/// The first four bytes of a pcap file, either byte order and resolution.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
/// The block type of a pcapng Section Header Block.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Linux "cooked" headers: SLL is 16 bytes with the protocol at 14, SLL2 is
/// 20 bytes with the protocol at 0.
const SLL_LEN: usize = 16;
const SLL_PROTOCOL_AT: usize = 14;
const SLL2_LEN: usize = 20;
const SLL2_PROTOCOL_AT: usize = 0;
/// NULL and LOOP links start with a 4-byte address family.
const NULL_LEN: usize = 4;
/// Out-of-order segments held per direction; more are dropped.
const MAX_PENDING_SEGMENTS: usize = 4096;
/// Offsets this far past the next expected byte are taken as old data
/// (a retransmit from before the start), not as a gap.
const HALF_SEQ_SPACE: u32 = 1 << 31;

/// Whether `bytes` start like a pcap or pcapng file.
pub fn is_capture(bytes: &[u8]) -> bool {
    bytes
        .first_chunk::<4>()
        .is_some_and(|m| *m == PCAPNG_MAGIC || PCAP_MAGICS.contains(m))
}

/// Read a capture file and explain every TCP connection in it.
pub fn explain_capture(path: &Path) -> io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(explain_capture_bytes(&bytes)?.text)
}

/// One TCP segment, as far as the explanation needs it.
#[derive(Debug)]
struct Segment {
    number: usize,
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: Vec<u8>,
}

/// [`explain_capture`] on the bytes of a capture.
pub fn explain_capture_bytes(bytes: &[u8]) -> io::Result<Explanation> {
    explain_capture_bytes_with(bytes, None)
}

/// [`explain_capture_bytes`], with `deflate` assumed agreed on connections
/// whose opening handshake the capture missed (`--deflate`).
pub fn explain_capture_bytes_with(
    bytes: &[u8],
    deflate: Option<DeflateParams>,
) -> io::Result<Explanation> {
    let Packets {
        format,
        packets,
        cut,
    } = read_packets(bytes)?;
    let mut skipped = 0;
    let mut segments = Vec::new();
    for (index, (link, data)) in packets.iter().enumerate() {
        match tcp_segment(*link, data, index + 1) {
            Some(segment) => segments.push(segment),
            None => skipped += 1,
        }
    }

    let connections = group(segments);
    let mut out = Out::default();
    out.line(&format!(
        "capture: {format}, {} packets, {} TCP connection(s), {skipped} packet(s) not TCP",
        packets.len(),
        connections.len()
    ));
    if let Some(why) = cut {
        out.line(&format!(
            "the file ends inside packet {} ({why}); the packets before it are explained",
            packets.len() + 1
        ));
    }
    out.line("");
    for (i, segments) in connections.iter().enumerate() {
        explain_connection(i + 1, segments, deflate, &mut out);
    }
    Ok(Explanation {
        text: out.text,
        broken: out.broken,
    })
}

/// A packet's bytes and the link type they start with.
type LinkPacket = (DataLink, Vec<u8>);

/// What a capture file held.
struct Packets {
    /// `pcap` or `pcapng`.
    format: &'static str,
    packets: Vec<LinkPacket>,
    /// Why reading stopped before the end of the file, if it did: a capture
    /// whose writer was killed ends inside a packet, and the packets before
    /// that are still worth explaining.
    cut: Option<String>,
}

/// Every packet with its link type, and the name of the format. Only a file
/// header that cannot be read is an error.
fn read_packets(bytes: &[u8]) -> io::Result<Packets> {
    let unreadable = |format: &str, e: pcap_file::PcapError| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a readable {format} file: its header is damaged or cut short ({e})"),
        )
    };
    let mut cut = None;
    if bytes.starts_with(&PCAPNG_MAGIC) {
        let mut reader =
            PcapNgReader::new(Cursor::new(bytes)).map_err(|e| unreadable("pcapng", e))?;
        let mut links = Vec::new();
        let mut packets = Vec::new();
        while let Some(block) = reader.next_block() {
            let block = match block {
                Ok(block) => block,
                Err(e) => {
                    cut = Some(e.to_string());
                    break;
                }
            };
            match block {
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb) => {
                    let link = links.get(epb.interface_id as usize).copied();
                    packets.push((link.unwrap_or(DataLink::ETHERNET), epb.data.into_owned()));
                }
                Block::SimplePacket(spb) => {
                    let link = links.first().copied().unwrap_or(DataLink::ETHERNET);
                    packets.push((link, spb.data.into_owned()));
                }
                _ => {}
            }
        }
        let format = "pcapng";
        return Ok(Packets {
            format,
            packets,
            cut,
        });
    }

    let mut reader = PcapReader::new(Cursor::new(bytes)).map_err(|e| unreadable("pcap", e))?;
    let link = reader.header().datalink;
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        match packet {
            Ok(packet) => packets.push((link, packet.data.into_owned())),
            Err(e) => {
                cut = Some(e.to_string());
                break;
            }
        }
    }
    let format = "pcap";
    Ok(Packets {
        format,
        packets,
        cut,
    })
}

/// Decode the link, IP and TCP headers of one packet; `None` if it is not
/// TCP over IP on a link type we read.
fn tcp_segment(link: DataLink, data: &[u8], number: usize) -> Option<Segment> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        DataLink::LINUX_SLL => cooked(data, SLL_LEN, SLL_PROTOCOL_AT)?,
        DataLink::LINUX_SLL2 => cooked(data, SLL2_LEN, SLL2_PROTOCOL_AT)?,
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(NULL_LEN..)?).ok()?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok()?,
        _ => return None,
    };
    let (src, dst): (IpAddr, IpAddr) = match sliced.net? {
        NetSlice::Ipv4(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(tcp) = sliced.transport? else {
        return None;
    };
    Some(Segment {
        number,
        from: SocketAddr::new(src, tcp.source_port()),
        to: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        payload: tcp.payload().to_vec(),
    })
}

/// A Linux cooked header: skip it and read the protocol it names.
fn cooked(data: &[u8], header_len: usize, protocol_at: usize) -> Option<SlicedPacket<'_>> {
    let protocol = data.get(protocol_at..protocol_at + 2)?;
    let ether_type = EtherType(u16::from_be_bytes([protocol[0], protocol[1]]));
    SlicedPacket::from_ether_type(ether_type, data.get(header_len..)?).ok()
}

/// Segments grouped by connection, in order of each connection's first
/// packet. A SYN without ACK on a pair already seen starts a new connection.
fn group(segments: Vec<Segment>) -> Vec<Vec<Segment>> {
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut connections: Vec<Vec<Segment>> = Vec::new();
    for segment in segments {
        let key = match segment.from < segment.to {
            true => (segment.from, segment.to),
            false => (segment.to, segment.from),
        };
        let fresh_syn = segment.syn && !segment.ack;
        let slot = match index.get(&key) {
            Some(&i)
                if !(fresh_syn
                    && connections[i]
                        .iter()
                        .any(|s| s.from == segment.from && s.syn)) =>
            {
                i
            }
            _ => {
                connections.push(Vec::new());
                index.insert(key, connections.len() - 1);
                connections.len() - 1
            }
        };
        connections[slot].push(segment);
    }
    connections
}

/// The client: the side that sent a SYN without ACK, else the side whose
/// first payload is an HTTP request or a masked frame.
fn find_client(segments: &[Segment]) -> Option<SocketAddr> {
    if let Some(syn) = segments.iter().find(|s| s.syn && !s.ack) {
        return Some(syn.from);
    }
    let first = segments.iter().find(|s| !s.payload.is_empty())?;
    let client_like = super::http::looks_like_request(&first.payload)
        || first.payload.get(1).is_some_and(|b| b & 0x80 != 0);
    match client_like {
        true => Some(first.from),
        false => Some(first.to),
    }
}

fn explain_connection(
    number: usize,
    segments: &[Segment],
    deflate: Option<DeflateParams>,
    out: &mut Out,
) {
    let Some(client) = find_client(segments) else {
        out.line(&format!("connection {number}: no payload"));
        out.line("");
        return;
    };
    let server = segments
        .iter()
        .map(|s| if s.from == client { s.to } else { s.from })
        .next()
        .unwrap_or(client);
    out.line(&format!(
        "connection {number}: client {client} → server {server}"
    ));
    out.line("");

    let mut conv = Conversation::new(deflate);
    for segment in segments {
        conv.segment(segment, segment.from == client, out);
    }
    conv.finish(out);
}

/// Both directions of one connection.
struct Conversation {
    client: Direction,
    server: Direction,
}

struct Direction {
    stream: Reassembly,
    explainer: StreamExplainer,
}

impl Conversation {
    fn new(deflate: Option<DeflateParams>) -> Self {
        let direction = |sender| {
            let mut explainer = StreamExplainer::new(sender, false);
            if let Some(params) = deflate {
                explainer.assume_deflate(params);
            }
            Direction {
                stream: Reassembly::default(),
                explainer,
            }
        };
        Self {
            client: direction(Role::Client),
            server: direction(Role::Server),
        }
    }

    fn segment(&mut self, segment: &Segment, from_client: bool, out: &mut Out) {
        let note = format!(", packet {}", segment.number);
        let (this, other) = match from_client {
            true => (&mut self.client, &mut self.server),
            false => (&mut self.server, &mut self.client),
        };
        let fresh = this.stream.segment(segment);
        if fresh.is_empty() {
            return;
        }
        let learnt = this.explainer.push(&fresh, &note, out);

        // What one side said changes how the other is read.
        if let Some(accept) = learnt.accept {
            other.explainer.accept = Some(accept);
            other.explainer.offered_deflate = Some(learnt.offers_deflate);
            let _ = other.explainer.pump(&note, out);
        }
        if learnt.upgraded {
            let _ = other.explainer.upgrade(learnt.deflate, &note, out);
        }
    }

    fn finish(&mut self, out: &mut Out) {
        for (label, side) in [
            ("client: ", &mut self.client),
            ("server: ", &mut self.server),
        ] {
            side.explainer.finish(label, out);
            if side.stream.dropped > 0 || !side.stream.pending.is_empty() {
                out.line(&format!(
                    "{label}bytes after a gap in the capture were not explained ({} segments)",
                    side.stream.pending.len() + side.stream.dropped
                ));
                out.line("");
            }
        }
    }
}

/// One direction's byte stream put back in order by sequence number.
/// Duplicates and retransmits are trimmed to their new bytes.
#[derive(Debug, Default)]
struct Reassembly {
    /// The sequence number of the next byte expected.
    next: Option<u32>,
    /// Segments that arrived ahead of a gap, by sequence number.
    pending: BTreeMap<u32, Vec<u8>>,
    dropped: usize,
}

impl Reassembly {
    /// Take a segment; returns the bytes that are now in order.
    fn segment(&mut self, segment: &Segment) -> Vec<u8> {
        if segment.syn {
            // RFC 9293 §3.4: the SYN takes one sequence number.
            self.next.get_or_insert(segment.seq.wrapping_add(1));
        }
        if segment.payload.is_empty() {
            return Vec::new();
        }
        let next = *self.next.get_or_insert(segment.seq);

        let mut fresh = Vec::new();
        self.place(segment.seq, &segment.payload, next, &mut fresh);
        while let Some((&seq, _)) = self.pending.first_key_value() {
            let expected = self.next.unwrap_or(seq);
            if seq.wrapping_sub(expected) < HALF_SEQ_SPACE && seq != expected {
                break;
            }
            let data = self.pending.remove(&seq).unwrap_or_default();
            self.place(seq, &data, expected, &mut fresh);
        }
        fresh
    }

    /// Deliver the part of `data` (starting at `seq`) past `next`, or hold it.
    fn place(&mut self, seq: u32, data: &[u8], next: u32, fresh: &mut Vec<u8>) {
        let ahead = seq.wrapping_sub(next);
        if ahead != 0 && ahead < HALF_SEQ_SPACE {
            if self.pending.len() < MAX_PENDING_SEGMENTS {
                self.pending.entry(seq).or_insert_with(|| data.to_vec());
            } else {
                self.dropped += 1;
            }
            return;
        }
        // Old bytes (a retransmit) are skipped; only the new tail counts.
        let old = next.wrapping_sub(seq) as usize;
        if let Some(new) = data.get(old..).filter(|n| !n.is_empty()) {
            fresh.extend_from_slice(new);
            self.next = Some(next.wrapping_add(new.len() as u32));
        }
    }
}
