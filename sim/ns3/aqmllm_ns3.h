// The C core inside ns-3, compiled at run time by cppyy (see sim/ns3_env.py).
//
//  * AqmLlmQueueDisc: an ns-3 QueueDisc whose decisions come from the portable
//    core: the core keeps the packets' order per class (its FIFOs, in storage
//    given here), ns-3's two internal queues (C, L) hold the items in the same
//    order; aqm_enqueue / aqm_select / aqm_dequeue, optionally producing
//    records and interval records into a shared-memory ring that the real
//    bridge and daemon read (ExportMode, IntervalUs), residuals included.
//  * QdiscLog: per-packet dequeue / drop / mark events of ANY queue disc
//    (ours or ns-3's), kept in C++ and written to a binary file.
//  * LlmBulkApp: a bulk TCP sender whose socket's ECN setting is chosen per
//    flow (ns-3's BulkSendApplication cannot).
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/traffic-control-module.h"

#include <cstdio>
#include <unordered_map>
#include <vector>

extern "C" {
#include "aqm_shm.h"
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
                      MakeUintegerChecker<uint32_t>());
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

private:
  bool DoEnqueue(Ptr<QueueDiscItem> item) override
  {
    struct aqm_pkt p = {};
    p.len = item->GetSize();
    p.ecn = LlmEcnOf(item);
    p.flow_hash = item->Hash(0);
    p.item = PeekPointer(item);
    int act = aqm_enqueue(&m_q, Ring(), &p, Now());
    if (act != AQMLLM_ACT_PASS) {
      DropBeforeEnqueue(item, "llm");
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
      int act = aqm_dequeue(&m_q, Ring(), cls, now, &p);
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
  uint64_t m_rate{0}, m_seed{1};
  std::string m_ringPath;
  struct aqm_queue m_q {};
  struct aqm_shm m_shm {};
  bool m_haveShm{false};
  std::vector<struct aqm_pkt> m_slots[2];
  bool m_keep{false};
  std::vector<struct aqm_decision> m_decisions;
};

NS_OBJECT_ENSURE_REGISTERED(AqmLlmQueueDisc);

// Per-packet events of a queue disc, in C++ (no Python per packet).
struct LlmLogRow
{
  double t;        // seconds
  double sojourn;  // seconds (dequeues)
  uint32_t bytes;
  uint8_t cls;     // 1: L (ECT(1)/CE), 0: C
  uint8_t event;   // 0 dequeue, 1 drop at enqueue, 2 mark, 3 drop after dequeue
  uint16_t pad;
};

class QdiscLog : public Object
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid = TypeId("ns3::QdiscLog").SetParent<Object>().AddConstructor<QdiscLog>();
    return tid;
  }

  void Attach(Ptr<QueueDisc> q)
  {
    q->TraceConnectWithoutContext("Enqueue", MakeCallback(&QdiscLog::OnEnqueue, this));
    q->TraceConnectWithoutContext("Dequeue", MakeCallback(&QdiscLog::OnDequeue, this));
    q->TraceConnectWithoutContext("DropBeforeEnqueue", MakeCallback(&QdiscLog::OnDropEnq, this));
    q->TraceConnectWithoutContext("DropAfterDequeue", MakeCallback(&QdiscLog::OnDropDeq, this));
    q->TraceConnectWithoutContext("Mark", MakeCallback(&QdiscLog::OnMark, this));
  }

  bool Write(const std::string &path) const
  {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f)
      return false;
    size_t n = std::fwrite(m_rows.data(), sizeof(LlmLogRow), m_rows.size(), f);
    std::fclose(f);
    return n == m_rows.size();
  }

  uint64_t Rows() const { return m_rows.size(); }
  uint64_t Tracked() const { return m_class.size(); }

private:
  // The class is the packet's ECN codepoint on arrival: a CE mark applied
  // by the AQM must not move a Classic packet into the L statistics.
  static uint8_t ClassOf(uint8_t ecn) { return ecn == AQMLLM_ECN_ECT1 || ecn == AQMLLM_ECN_CE; }
  uint8_t ArrivalClass(Ptr<const QueueDiscItem> item, bool forget)
  {
    auto it = m_class.find(PeekPointer(item));
    if (it == m_class.end())
      return ClassOf(LlmEcnOf(item));
    uint8_t cls = it->second;
    if (forget)
      m_class.erase(it);
    return cls;
  }
  void Add(Ptr<const QueueDiscItem> item, uint8_t event, double sojourn, bool forget)
  {
    LlmLogRow r{Simulator::Now().GetSeconds(), sojourn, item->GetSize(),
                ArrivalClass(item, forget), event, 0};
    m_rows.push_back(r);
  }
  void OnEnqueue(Ptr<const QueueDiscItem> item)
  {
    m_class[PeekPointer(item)] = ClassOf(LlmEcnOf(item));
  }
  // ns-3 fires "Dequeue" when the item leaves the internal queue, before the
  // AQM's mark or drop-after-dequeue: keep the class until one of those.
  void OnDequeue(Ptr<const QueueDiscItem> item)
  {
    Add(item, 0, (Simulator::Now() - item->GetTimeStamp()).GetSeconds(), false);
  }
  // Dropped on arrival: never queued, never marked, so its ECN field is its
  // class.  An entry under its address is a departed packet's (dequeued
  // items keep theirs and addresses are reused): using it made the class of
  // arrival drops depend on the allocator, and reports differ between runs.
  void OnDropEnq(Ptr<const QueueDiscItem> item, const char *)
  {
    m_class.erase(PeekPointer(item));
    Add(item, 1, 0.0, true);
  }
  void OnDropDeq(Ptr<const QueueDiscItem> item, const char *) { Add(item, 3, 0.0, true); }
  void OnMark(Ptr<const QueueDiscItem> item, const char *) { Add(item, 2, 0.0, true); }

  std::vector<LlmLogRow> m_rows;
  std::unordered_map<const QueueDiscItem *, uint8_t> m_class;
};

// A bulk sender with a per-flow ECN choice.
class LlmBulkApp : public Application
{
public:
  static TypeId GetTypeId()
  {
    static TypeId tid = TypeId("ns3::LlmBulkApp").SetParent<Application>().AddConstructor<LlmBulkApp>();
    return tid;
  }
  void Setup(Address peer, bool ecn) { m_peer = peer; m_ecn = ecn; }

private:
  void StartApplication() override
  {
    m_socket = Socket::CreateSocket(GetNode(), TcpSocketFactory::GetTypeId());
    m_socket->SetAttribute("UseEcn", EnumValue(m_ecn ? TcpSocketState::On : TcpSocketState::Off));
    m_socket->Bind();
    m_socket->Connect(m_peer);
    m_socket->SetSendCallback(MakeCallback(&LlmBulkApp::Fill, this));
    m_socket->SetConnectCallback(MakeCallback(&LlmBulkApp::Connected, this),
                                 MakeNullCallback<void, Ptr<Socket>>());
  }
  void StopApplication() override
  {
    if (m_socket)
      m_socket->Close();
  }
  void Connected(Ptr<Socket> s) { Fill(s, s->GetTxAvailable()); }
  void Fill(Ptr<Socket> s, uint32_t)
  {
    while (s->GetTxAvailable() >= 1448) {
      if (s->Send(Create<Packet>(1448)) < 0)
        break;
    }
  }

  Ptr<Socket> m_socket;
  Address m_peer;
  bool m_ecn{false};
};

NS_OBJECT_ENSURE_REGISTERED(LlmBulkApp);

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
