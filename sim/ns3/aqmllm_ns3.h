// The C core inside ns-3, compiled at run time by cppyy (see sim/ns3_env.py).
//
//  * AqmLlmQueueDisc: an ns-3 QueueDisc whose decisions come from the portable
//    core: the core keeps the packets' order per class (its FIFOs, in storage
//    given here), ns-3's two internal queues (C, L) hold the items in the same
//    order; aqm_enqueue / aqm_select / aqm_dequeue, optionally producing
//    records and interval records into a shared-memory ring that the real
//    bridge and daemon read (ExportMode, IntervalUs), residuals included.
//  * QdiscLog: one outcome row per packet of ANY queue disc (ours or ns-3's),
//    written by the shared event-log writer (sim/evlog/aqmllm_evlog.h).
//  * LlmBulkApp: a bulk TCP sender whose socket's ECN codepoint is chosen per
//    flow (ns-3's BulkSendApplication cannot).
//  * LlmWebApp: finite TCP transfers on a schedule, each on its own
//    connection, with their completion times.
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/traffic-control-module.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include "aqm_shm.h"
#include "aqmllm_evlog.h"
}

namespace ns3 {

static inline uint8_t
LlmEcnOf(Ptr<const QueueDiscItem> item)
{
  uint8_t tos = 0;
  if (item->GetUint8Value(QueueItem::IP_DSFIELD, tos))
    return tos & 0x3;
  return AQMLLM_ECN_NOT_ECT;
}

class AqmLlmQueueDisc : public QueueDisc
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid =
      TypeId("ns3::AqmLlmQueueDisc")
        .SetParent<QueueDisc>()
        .SetGroupName("TrafficControl")
        .AddConstructor<AqmLlmQueueDisc>()
        .AddAttribute("FallbackId", "AQMLLM_FB_* of the fallback AQM",
                      UintegerValue(0), MakeUintegerAccessor(&AqmLlmQueueDisc::m_fb),
                      MakeUintegerChecker<uint32_t>(0, AQMLLM_FB_COUNT - 1))
        .AddAttribute("Limit", "Queue limit in packets", UintegerValue(1000),
                      MakeUintegerAccessor(&AqmLlmQueueDisc::m_limit),
                      MakeUintegerChecker<uint32_t>(1))
        .AddAttribute("LinkRateBps", "Drain rate for the records' wait estimate",
                      UintegerValue(0), MakeUintegerAccessor(&AqmLlmQueueDisc::m_rate),
                      MakeUintegerChecker<uint64_t>())
        .AddAttribute("Seed", "PRNG seed of the queue", UintegerValue(1),
                      MakeUintegerAccessor(&AqmLlmQueueDisc::m_seed),
                      MakeUintegerChecker<uint64_t>())
        .AddAttribute("RingPath", "Shared-memory ring file; empty: no daemon",
                      StringValue(""), MakeStringAccessor(&AqmLlmQueueDisc::m_ringPath),
                      MakeStringChecker())
        .AddAttribute("RingEntries", "Records in the ring", UintegerValue(65536),
                      MakeUintegerAccessor(&AqmLlmQueueDisc::m_entries),
                      MakeUintegerChecker<uint32_t>(64))
        .AddAttribute("ExportMode", "AQMLLM_EXPORT_*: per-packet records, intervals, both",
                      UintegerValue(AQMLLM_EXPORT_BOTH),
                      MakeUintegerAccessor(&AqmLlmQueueDisc::m_export),
                      MakeUintegerChecker<uint32_t>(AQMLLM_EXPORT_PACKETS, AQMLLM_EXPORT_BOTH))
        .AddAttribute("IntervalUs", "Interval of the interval records; 0: the fallback's Tupdate",
                      UintegerValue(0), MakeUintegerAccessor(&AqmLlmQueueDisc::m_intervalUs),
                      MakeUintegerChecker<uint32_t>())
        .AddAttribute("TargetNs", "Delay target of the fallback AQM; 0: its default",
                      UintegerValue(0), MakeUintegerAccessor(&AqmLlmQueueDisc::m_target),
                      MakeUintegerChecker<uint64_t>());
    return tid;
  }

  AqmLlmQueueDisc() : QueueDisc(QueueDiscSizePolicy::MULTIPLE_QUEUES) {}
  ~AqmLlmQueueDisc() override
  {
    if (m_haveShm)
      aqm_shm_destroy(&m_shm, m_ringPath.c_str(), 1);
  }

  struct aqm_queue *Core() { return &m_q; }
  // (seq, action) of every decided packet that had a record: experience.
  void KeepDecisions(bool on) { m_keep = on; }
  bool WriteDecisions(const std::string &path) const
  {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
      return false;
    size_t n = std::fwrite(m_decisions.data(), sizeof(struct aqm_decision), m_decisions.size(), f);
    std::fclose(f);
    return n == m_decisions.size();
  }
  struct aqm_ring *Ring() { return m_haveShm ? &m_shm.ring : nullptr; }
  uint64_t BySource(uint32_t src) const { return src < AQM_SRC_COUNT ? m_q.by_src[src] : 0; }
  // AQM_SRC_* of the core's latest decision, read by QdiscLog inside the
  // trace that decision fires (drop, mark, or the dequeue that serves).
  uint8_t LastSource() const { return m_lastSrc; }

private:
  bool DoEnqueue(Ptr<QueueDiscItem> item) override
  {
    struct aqm_pkt p = {};
    p.len = item->GetSize();
    p.ecn = LlmEcnOf(item);
    p.flow_hash = item->Hash(0);
    p.item = PeekPointer(item);
    int act = aqm_enqueue(&m_q, Ring(), &p, Now());
    m_lastSrc = p.src;
    if (act != AQMLLM_ACT_PASS) {
      DropBeforeEnqueue(item, p.src == AQM_SRC_LIMIT ? "limit" : "llm");
      return false;
    }
    GetInternalQueue(p.cls)->Enqueue(item);
    return true;
  }

  Ptr<QueueDiscItem> DoDequeue() override
  {
    for (;;) {
      uint64_t now = Now();
      int cls = aqm_select(&m_q, now);
      if (cls < 0)
        return nullptr;
      struct aqm_pkt p;
      // Decide first, then take the item: its Dequeue trace sees the source.
      int act = aqm_dequeue(&m_q, Ring(), cls, now, &p);
      m_lastSrc = p.src;
      Ptr<QueueDiscItem> item = GetInternalQueue(cls)->Dequeue();
      NS_ASSERT_MSG(PeekPointer(item) == p.item, "AqmLlmQueueDisc: core and ns-3 queues differ");
      if (m_keep && p.seq != 0)
        m_decisions.push_back({p.seq, (uint64_t)act});
      if (act == AQMLLM_ACT_DROP) {
        DropAfterDequeue(item, "llm");
        continue;
      }
      if (act == AQMLLM_ACT_MARK)
        Mark(item, "llm");
      return item;
    }
  }

  bool CheckConfig() override
  {
    if (GetNQueueDiscClasses() > 0 || GetNPacketFilters() > 0)
      return false;
    for (int k = 0; k < 2; k++)
      AddInternalQueue(CreateObjectWithAttributes<DropTailQueue<QueueDiscItem>>(
        "MaxSize", QueueSizeValue(QueueSize("4000000p"))));
    return true;
  }

  void InitializeParams() override
  {
    struct aqm_params par;
    aqm_params_defaults(&par, m_fb);
    par.limit_pkts = m_limit;
    par.link_rate_bps = m_rate;
    if (m_target != 0) {
      par.dualpi2.target_ns = m_target;
      par.pie.target_ns = m_target;
      par.codel.target_ns = m_target;
    }
    if (aqm_queue_init(&m_q, 0, &par, m_seed, Now()) != 0)
      NS_FATAL_ERROR("AqmLlmQueueDisc: invalid core parameters");
    // Fixed storage: a FIFO of the limit's capacity never fills first.
    uint32_t cap = aqm_fifo_cap(m_limit);
    for (int k = 0; k < 2; k++) {
      m_slots[k].assign(cap, aqm_pkt{});
      aqm_queue_storage(&m_q, k, m_slots[k].data(), cap, nullptr);
    }
    if (!m_ringPath.empty()) {
      if (aqm_shm_create(&m_shm, m_ringPath.c_str(), m_entries, m_entries, 1) != 0)
        NS_FATAL_ERROR("AqmLlmQueueDisc: cannot create ring " << m_ringPath);
      m_haveShm = true;
      if (aqm_ring_set_export(&m_shm.ring, m_export, (uint64_t)m_intervalUs * 1000) != 0)
        NS_FATAL_ERROR("AqmLlmQueueDisc: IntervalUs " << m_intervalUs << " out of range");
    }
  }

  static uint64_t Now() { return Simulator::Now().GetNanoSeconds(); }

  uint32_t m_fb{0}, m_limit{1000}, m_entries{65536};
  uint32_t m_export{AQMLLM_EXPORT_BOTH}, m_intervalUs{0};
  uint64_t m_rate{0}, m_seed{1}, m_target{0};
  uint8_t m_lastSrc{0};
  std::string m_ringPath;
  struct aqm_queue m_q {};
  struct aqm_shm m_shm {};
  bool m_haveShm{false};
  std::vector<struct aqm_pkt> m_slots[2];
  bool m_keep{false};
  std::vector<struct aqm_decision> m_decisions;
};

NS_OBJECT_ENSURE_REGISTERED(AqmLlmQueueDisc);

// One outcome row per packet of a queue disc, through the shared event-log
// writer (sim/evlog/aqmllm_evlog.h); C++ only, no Python per packet.
//
// ns-3 reports a packet in pieces: "Dequeue" when it leaves the internal
// queue, then possibly "Mark" or "DropAfterDequeue" from the AQM; PIE and
// RED mark before "Enqueue".  The dequeued packet is held as pending until
// the AQM's next word on it, or until any other packet's event: nothing
// more can happen to it then, and it was served.
class QdiscLog : public Object
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid = TypeId("ns3::QdiscLog").SetParent<Object>().AddConstructor<QdiscLog>();
    return tid;
  }
  ~QdiscLog() override { aqmllm_evlog_close(&m_log); }

  bool Open(const std::string &path) { return aqmllm_evlog_open(&m_log, path.c_str(), 0) == 0; }
  // Writes the flow table and the tail; false if any write failed.
  bool Close()
  {
    Resolve();
    return aqmllm_evlog_close(&m_log) == 0;
  }

  void Attach(Ptr<QueueDisc> q)
  {
    q->TraceConnectWithoutContext("Enqueue", MakeCallback(&QdiscLog::OnEnqueue, this));
    q->TraceConnectWithoutContext("Dequeue", MakeCallback(&QdiscLog::OnDequeue, this));
    q->TraceConnectWithoutContext("DropBeforeEnqueue", MakeCallback(&QdiscLog::OnDropEnq, this));
    q->TraceConnectWithoutContext("DropAfterDequeue", MakeCallback(&QdiscLog::OnDropDeq, this));
    q->TraceConnectWithoutContext("Mark", MakeCallback(&QdiscLog::OnMark, this));
    if (Ptr<AqmLlmQueueDisc> ours = DynamicCast<AqmLlmQueueDisc>(q))
      m_ours = PeekPointer(ours);
  }
  // The codepoint a packet had before the queue disc saw it: PIE and RED
  // mark at enqueue, before the "Enqueue" trace, and a CE-marked ECT(0)
  // packet must stay in the Classic statistics.  ip: the router whose
  // forwarding to interface `iface` feeds the queue disc.
  void WatchArrivals(Ptr<Ipv4L3Protocol> ip, uint32_t iface)
  {
    m_iface = iface;
    ip->TraceConnectWithoutContext("UnicastForward", MakeCallback(&QdiscLog::OnForward, this));
  }

  uint64_t Rows() const { return m_log.rows; }

  // The trace handlers (public: a test replays sequences through them).
  void OnEnqueue(Ptr<const QueueDiscItem> item)
  {
    Resolve();
    State &st = m_state[PeekPointer(item)];
    if (!st.known) {
      st.ecn = ArrivalEcn(item);
      st.known = true;
    }
  }
  void OnDequeue(Ptr<const QueueDiscItem> item)
  {
    Resolve();
    m_pending = item;
    m_pendingSrc = Source();
    m_pendingNs = Simulator::Now().GetNanoSeconds();
    // Now, before the device adds its headers to the very same packet
    // (the IP header, then PPP's 2 bytes, which GetSize() would count).
    m_pendingFlow = FlowOf(item);
    m_pendingBytes = item->GetSize();
  }
  void OnDropEnq(Ptr<const QueueDiscItem> item, const char *reason)
  {
    Resolve();
    uint8_t ecn = Forget(item);
    Row(item, IsLimit(reason) ? AQMLLM_EV_DROP_TAIL : AQMLLM_EV_DROP_ENQ, ecn, Source());
  }
  void OnDropDeq(Ptr<const QueueDiscItem> item, const char *)
  {
    if (m_pending != item)
      Resolve();
    m_pending = nullptr;
    Row(item, AQMLLM_EV_DROP_DEQ, Forget(item), Source());
  }
  void OnMark(Ptr<const QueueDiscItem> item, const char *)
  {
    if (m_pending == item) {
      m_pending = nullptr;
      Row(item, AQMLLM_EV_MARKED, Forget(item), Source());
      return;
    }
    // Marked before it was dequeued (at enqueue, or during a peek).
    Resolve();
    State &st = m_state[PeekPointer(item)];
    if (!st.known) {
      st.ecn = ArrivalEcn(item);
      st.known = true;
    }
    st.marked = true;
  }

private:
  struct State
  {
    uint8_t ecn{0};
    bool known{false}, marked{false};
  };

  // A drop reason that means "the queue was full", not an AQM decision.
  static bool IsLimit(const char *reason)
  {
    std::string r(reason ? reason : "");
    return r.find("limit") != std::string::npos || r.find("Forced drop") != std::string::npos ||
           r.find(QueueDisc::INTERNAL_QUEUE_DROP) != std::string::npos;
  }

  uint8_t Source() const { return m_ours ? m_ours->LastSource() : 0; }

  uint8_t ArrivalEcn(Ptr<const QueueDiscItem> item) const
  {
    if (m_fwdPacket != nullptr && PeekPointer(item->GetPacket()) == m_fwdPacket)
      return m_fwdEcn;
    return LlmEcnOf(item);
  }

  void OnForward(const Ipv4Header &h, Ptr<const Packet> p, uint32_t iface)
  {
    if (iface != m_iface)
      return;
    m_fwdPacket = PeekPointer(p);
    m_fwdEcn = (uint8_t)h.GetEcn();
  }

  // The arrival codepoint of an item leaving the queue disc, forgotten.
  uint8_t Forget(Ptr<const QueueDiscItem> item)
  {
    auto it = m_state.find(PeekPointer(item));
    if (it == m_state.end())
      return ArrivalEcn(item);
    uint8_t ecn = it->second.ecn;
    m_state.erase(it);
    return ecn;
  }

  void Resolve()
  {
    if (!m_pending)
      return;
    Ptr<const QueueDiscItem> item = m_pending;
    m_pending = nullptr;
    auto it = m_state.find(PeekPointer(item));
    bool marked = it != m_state.end() && it->second.marked;
    Row(item, marked ? AQMLLM_EV_MARKED : AQMLLM_EV_SERVED, Forget(item), m_pendingSrc,
        m_pendingNs, m_pendingFlow, m_pendingBytes);
  }

  uint32_t FlowOf(Ptr<const QueueDiscItem> item)
  {
    Ptr<const Ipv4QueueDiscItem> ip = DynamicCast<const Ipv4QueueDiscItem>(item);
    if (!ip)
      return AQMLLM_EVLOG_NO_FLOW;
    const Ipv4Header &h = ip->GetHeader();
    uint8_t proto = h.GetProtocol();
    uint8_t ports[4];
    if ((proto != 6 && proto != 17) || h.GetFragmentOffset() != 0 ||
        item->GetPacket()->CopyData(ports, 4) != 4)
      return AQMLLM_EVLOG_NO_FLOW;
    struct aqmllm_evflow key = {};
    uint32_t s = htonl(h.GetSource().Get()), d = htonl(h.GetDestination().Get());
    std::memcpy(&key.saddr, &s, 4);
    std::memcpy(&key.daddr, &d, 4);
    std::memcpy(&key.sport, ports, 2);
    std::memcpy(&key.dport, ports + 2, 2);
    key.proto = proto;
    return aqmllm_evlog_flow(&m_log, &key);
  }

  // A served packet's flow and size are read when it is dequeued (at_ns):
  // once transmitted, the device has prepended its headers to the packet.
  void Row(Ptr<const QueueDiscItem> item, uint8_t event, uint8_t ecn, uint8_t src,
           int64_t at_ns = -1, uint32_t flow = kFlowUnread, uint32_t bytes = 0)
  {
    uint64_t now = at_ns >= 0 ? (uint64_t)at_ns : (uint64_t)Simulator::Now().GetNanoSeconds();
    aqmllm_evlog_row(&m_log, now, (uint64_t)item->GetTimeStamp().GetNanoSeconds(),
                     bytes ? bytes : item->GetSize(), flow == kFlowUnread ? FlowOf(item) : flow,
                     event, ecn, src);
  }
  static constexpr uint32_t kFlowUnread = 0xfffffffeu;

  struct aqmllm_evlog m_log {};
  std::unordered_map<const QueueDiscItem *, State> m_state;
  Ptr<const QueueDiscItem> m_pending;
  uint8_t m_pendingSrc{0};
  int64_t m_pendingNs{0};
  uint32_t m_pendingFlow{AQMLLM_EVLOG_NO_FLOW};
  uint32_t m_pendingBytes{0};
  AqmLlmQueueDisc *m_ours{nullptr};
  const Packet *m_fwdPacket{nullptr};
  uint8_t m_fwdEcn{0};
  uint32_t m_iface{0xffffffffu};
};

// The ECN codepoint (AQMLLM_ECN_*) a TCP socket sends with.  ns-3 keeps it in
// the socket's protected state; DCTCP sets it itself at connection start
// from its UseEct0 attribute, so that is what changes for DCTCP.
struct LlmTcpAccess : public TcpSocketBase
{
  static Ptr<TcpSocketState> Tcb(TcpSocketBase *s) { return s->*(&LlmTcpAccess::m_tcb); }
  static Ptr<TcpCongestionOps> Cc(TcpSocketBase *s)
  {
    return s->*(&LlmTcpAccess::m_congestionControl);
  }
};

static inline void
LlmSetTcpEcn(Ptr<Socket> socket, uint8_t ecn)
{
  bool on = ecn == AQMLLM_ECN_ECT0 || ecn == AQMLLM_ECN_ECT1;
  socket->SetAttribute("UseEcn", EnumValue(on ? TcpSocketState::On : TcpSocketState::Off));
  TcpSocketBase *tcp = dynamic_cast<TcpSocketBase *>(PeekPointer(socket));
  if (!on || tcp == nullptr)
    return;
  LlmTcpAccess::Tcb(tcp)->m_ectCodePoint =
    ecn == AQMLLM_ECN_ECT1 ? TcpSocketState::Ect1 : TcpSocketState::Ect0;
  Ptr<TcpCongestionOps> cc = LlmTcpAccess::Cc(tcp);
  if (cc && cc->GetInstanceTypeId() == TcpDctcp::GetTypeId())
    cc->SetAttribute("UseEct0", BooleanValue(ecn == AQMLLM_ECN_ECT0));
}

// A bulk sender with a per-flow ECN codepoint.
class LlmBulkApp : public Application
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid = TypeId("ns3::LlmBulkApp").SetParent<Application>().AddConstructor<LlmBulkApp>();
    return tid;
  }
  void Setup(Address peer, uint8_t ecn) { m_peer = peer; m_ecn = ecn; }
  void SetInitialCwnd(uint32_t segments) { m_iw = segments; }

private:
  void StartApplication() override
  {
    m_socket = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
    LlmSetTcpEcn(m_socket, m_ecn);
    m_socket->SetAttribute("InitialCwnd", UintegerValue(m_iw));
    m_socket->Bind();
    m_socket->Connect(m_peer);
    m_socket->SetSendCallback(MakeCallback(&LlmBulkApp::Fill, this));
    m_socket->SetConnectCallback(MakeCallback(&LlmBulkApp::Connected, this),
                                 MakeNullCallback<void, Ptr<Socket>>());
  }
  // A stop before the connection is up closes it once it is (with a FIN):
  // ns-3 answers Close() in SYN_SENT with a RST, and a RST reaching a
  // listener that never saw this flow's SYN (lost) arms ns-3 3.44's
  // zero-window persist timer on that listener, whose expiry dereferences
  // an empty send buffer (TcpSocketBase::PersistTimeout ->
  // TcpTxItem::GetPacketCopy: the segfault of runs with short flows).
  void StopApplication() override
  {
    m_stopped = true;
    if (m_socket && m_connected)
      m_socket->Close();
  }
  void Connected(Ptr<Socket> s)
  {
    m_connected = true;
    if (m_stopped)
      s->Close();
    else
      Fill(s, s->GetTxAvailable());
  }
  void Fill(Ptr<Socket> s, uint32_t)
  {
    while (!m_stopped && s->GetTxAvailable() >= 1448) {
      if (s->Send(Create<Packet>(1448)) < 0)
        break;
    }
  }

  Ptr<Socket> m_socket;
  Address m_peer;
  uint8_t m_ecn{AQMLLM_ECN_NOT_ECT};
  uint32_t m_iw{10};
  bool m_stopped{false}, m_connected{false};
};

NS_OBJECT_ENSURE_REGISTERED(LlmBulkApp);

// Finite transfers on a schedule (sim/web.py): each opens its own TCP
// connection from local port BasePort + index, writes its bytes, and closes
// (the FIN follows the last byte); LlmWebSink on the receiver notes when
// each connection's last byte arrived.
class LlmWebApp : public Application
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid = TypeId("ns3::LlmWebApp").SetParent<Application>().AddConstructor<LlmWebApp>();
    return tid;
  }
  void Setup(Address peer, uint8_t ecn, uint16_t basePort)
  {
    m_peer = peer;
    m_ecn = ecn;
    m_basePort = basePort;
  }
  void SetInitialCwnd(uint32_t segments) { m_iw = segments; }
  // Schedules transfer (start_s from the app's start, bytes); call before the run.
  void Add(double start_s, uint64_t bytes) { m_plan.push_back({start_s, bytes}); }
  uint32_t Transfers() const { return m_plan.size(); }
  uint32_t Started() const { return m_started; }
  uint32_t Failed() const { return m_failed; }

private:
  struct Planned
  {
    double start_s;
    uint64_t bytes;
  };
  struct Open
  {
    uint64_t left;
  };

  void StartApplication() override
  {
    for (uint32_t i = 0; i < m_plan.size(); i++)
      m_events.push_back(
        Simulator::Schedule(Seconds(m_plan[i].start_s), &LlmWebApp::Begin, this, i));
  }
  void StopApplication() override
  {
    // Transfers not begun by now never begin; open ones run to their end.
    for (EventId &e : m_events)
      e.Cancel();
  }
  void Begin(uint32_t i)
  {
    Ptr<Socket> s = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
    LlmSetTcpEcn(s, m_ecn);
    s->SetAttribute("InitialCwnd", UintegerValue(m_iw));
    if (s->Bind(InetSocketAddress(Ipv4Address::GetAny(), m_basePort + i)) != 0) {
      m_failed++;
      return;
    }
    m_open[PeekPointer(s)] = {m_plan[i].bytes};
    m_sockets.push_back(s);
    m_started++;
    s->SetConnectCallback(MakeCallback(&LlmWebApp::Connected, this),
                          MakeCallback(&LlmWebApp::ConnectFailed, this));
    s->SetSendCallback(MakeCallback(&LlmWebApp::Fill, this));
    s->Connect(m_peer);
  }
  void Connected(Ptr<Socket> s) { Fill(s, s->GetTxAvailable()); }
  void ConnectFailed(Ptr<Socket> s)
  {
    m_failed++;
    m_open.erase(PeekPointer(s));
  }
  void Fill(Ptr<Socket> s, uint32_t)
  {
    auto it = m_open.find(PeekPointer(s));
    if (it == m_open.end())
      return;
    while (it->second.left > 0) {
      uint32_t room = s->GetTxAvailable();
      uint32_t n = (uint32_t)std::min<uint64_t>({it->second.left, room, 1448 * 16});
      if (n == 0)
        return;
      int sent = s->Send(Create<Packet>(n));
      if (sent <= 0)
        return;
      it->second.left -= (uint64_t)sent;
    }
    m_open.erase(it);
    s->Close();
  }

  Address m_peer;
  uint8_t m_ecn{AQMLLM_ECN_NOT_ECT};
  uint16_t m_basePort{1024};
  uint32_t m_iw{10};
  std::vector<Planned> m_plan;
  std::vector<EventId> m_events;
  std::vector<Ptr<Socket>> m_sockets;
  std::unordered_map<Socket *, Open> m_open;
  uint32_t m_started{0}, m_failed{0};
};

NS_OBJECT_ENSURE_REGISTERED(LlmWebApp);

// The receiving end of LlmWebApp: accepts, reads, closes when the peer has
// closed, and keeps (peer port, bytes, time of the last byte) per connection.
class LlmWebSink : public Application
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid =
      TypeId("ns3::LlmWebSink").SetParent<Application>().AddConstructor<LlmWebSink>();
    return tid;
  }
  void Setup(uint16_t port) { m_port = port; }
  uint32_t Connections() const { return m_conns.size(); }
  uint16_t PeerPort(uint32_t i) const { return m_conns[i].port; }
  uint64_t Bytes(uint32_t i) const { return m_conns[i].bytes; }
  int64_t LastByteNs(uint32_t i) const { return m_conns[i].last_ns; }
  bool Closed(uint32_t i) const { return m_conns[i].closed; }
  uint64_t TotalRx() const
  {
    uint64_t t = 0;
    for (const Conn &c : m_conns)
      t += c.bytes;
    return t;
  }

private:
  struct Conn
  {
    uint16_t port{0};
    uint64_t bytes{0};
    int64_t last_ns{0};
    bool closed{false};
  };

  void StartApplication() override
  {
    m_listen = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
    m_listen->Bind(InetSocketAddress(Ipv4Address::GetAny(), m_port));
    m_listen->Listen();
    m_listen->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address &>(),
                                MakeCallback(&LlmWebSink::Accept, this));
  }
  void StopApplication() override
  {
    if (m_listen)
      m_listen->Close();
  }
  void Accept(Ptr<Socket> s, const Address &from)
  {
    m_index[PeekPointer(s)] = m_conns.size();
    Conn c;
    c.port = InetSocketAddress::ConvertFrom(from).GetPort();
    m_conns.push_back(c);
    m_accepted.push_back(s);
    s->SetRecvCallback(MakeCallback(&LlmWebSink::Read, this));
    s->SetCloseCallbacks(MakeCallback(&LlmWebSink::PeerClosed, this),
                         MakeCallback(&LlmWebSink::PeerClosed, this));
  }
  void Read(Ptr<Socket> s)
  {
    Conn &c = m_conns[m_index[PeekPointer(s)]];
    while (Ptr<Packet> p = s->Recv()) {
      if (p->GetSize() == 0)
        break;
      c.bytes += p->GetSize();
      c.last_ns = Simulator::Now().GetNanoSeconds();
    }
  }
  void PeerClosed(Ptr<Socket> s)
  {
    auto it = m_index.find(PeekPointer(s));
    if (it == m_index.end())
      return;
    Read(s);
    m_conns[it->second].closed = true;
    m_index.erase(it);
    s->Close();
  }

  uint16_t m_port{0};
  Ptr<Socket> m_listen;
  std::vector<Ptr<Socket>> m_accepted;
  std::vector<Conn> m_conns;
  std::unordered_map<Socket *, uint32_t> m_index;
};

NS_OBJECT_ENSURE_REGISTERED(LlmWebSink);

}  // namespace ns3

// Periodic Python callbacks on simulated time (the daemon's steps).
namespace ns3 {
static void
LlmPeriodicTick(Time period, Time stop, std::function<void(double)> fn)
{
  fn(Simulator::Now().GetSeconds());
  if (Simulator::Now() + period <= stop)
    Simulator::Schedule(period, &LlmPeriodicTick, period, stop, fn);
}

inline void
LlmSchedulePeriodic(double period_s, double stop_s, std::function<void(double)> fn)
{
  Simulator::Schedule(Seconds(period_s), &LlmPeriodicTick, Seconds(period_s), Seconds(stop_s), fn);
}

// Bottleneck rate changes without Python in the event.
inline void
LlmScheduleRate(Ptr<NetDevice> dev, double at_s, uint64_t bps)
{
  Simulator::Schedule(Seconds(at_s), [dev, bps]() {
    dev->SetAttribute("DataRate", DataRateValue(DataRate(bps)));
  });
}
}  // namespace ns3
